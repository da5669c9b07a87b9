import type { KMSClient } from '@aws-sdk/client-kms';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../common/api-error';
import { loadAppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { UnsealFailedError } from './key-provider';
import { createKmsPolicy, KmsKeyProvider } from './kms-key.provider';

/** An error shaped as the AWS SDK throws it: a name, and the HTTP status it came with. */
const awsError = (name: string, httpStatusCode = 400, code?: string) =>
  Object.assign(new Error(`${name} from KMS`), { name, code, $metadata: { httpStatusCode } });

/** A provider whose KMS client fails every call with `error` (the SDK's errors cannot be provoked from moto one by one). */
function providerFailingWith(error: Error) {
  const metrics = new MetricsService();
  const client = { send: () => Promise.reject(error) } as unknown as KMSClient;
  const config = loadAppConfig({ KMS_TIMEOUT_MS: '1000' });
  return new KmsKeyProvider(client, 'alias/pii', createKmsPolicy(config, metrics), metrics);
}

const sealed = { provider: 'kms', keyId: 'alias/pii', ciphertext: Buffer.from('sealed') };
const context = { userId: '42', keyVersion: 1 };

describe('KMS key provider failures', () => {
  const unavailable = [
    awsError('ThrottlingException'),
    awsError('KMSInternalException', 500),
    awsError('DependencyTimeoutException', 503),
    awsError('KMSInvalidStateException'),
    awsError('DisabledException'),
    awsError('KeyUnavailableException', 500),
    awsError('TimeoutError', 0),
    awsError('RequestTimeout', 408),
    awsError('NetworkingError', 0),
    awsError('AbortError', 0),
    awsError('ServiceUnavailable', 503),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' }),
  ];
  for (const cause of unavailable) {
    it(`answers ${cause.name}${'code' in cause && cause.code ? ` (${cause.code})` : ''} with 503 SYS002, keeping the cause for the log`, async () => {
      await assert.rejects(providerFailingWith(cause).unseal(sealed, context), (error) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.code, 'SYS002');
        assert.equal(error.status, 503);
        assert.equal(error.message, 'KMS is unavailable; try again later');
        assert.equal(error.cause, cause);
        return true;
      });
    });
  }

  it('reports a sealed key KMS refuses under its context as tampered, not as KMS being down', async () => {
    await assert.rejects(providerFailingWith(awsError('InvalidCiphertextException')).unseal(sealed, context), UnsealFailedError);
  });

  it('passes other refusals (a missing permission) through unchanged: they are a deployment bug, not unavailability', async () => {
    const denied = awsError('AccessDeniedException');
    await assert.rejects(providerFailingWith(denied).seal(Buffer.from('key'), context), (error) => error === denied);
  });
});

describe('KMS key provider: previous multi-region keys', () => {
  const account = '123456789012';
  const mrk = 'mrk-1234abcd12ab34cd56ef1234567890ab';
  const arn = (region: string, id: string) => `arn:aws:kms:${region}:${account}:key/${id}`;
  const current = arn('ca-central-1', '0b1c2d3e-1111-2222-3333-444455556666');
  const previousSingle = arn('ca-central-1', '9f8e7d6c-1111-2222-3333-444455556666');

  /** A provider in ca-central-1 whose KMS client records each command's input and answers as KMS would. */
  function providerIn(previous: string[]) {
    const metrics = new MetricsService();
    const sent: Array<{ command: string; input: Record<string, unknown> }> = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ command: command.constructor.name, input: command.input });
        return { Plaintext: new Uint8Array([1, 2, 3]), CiphertextBlob: new Uint8Array([4, 5, 6]), KeyId: current };
      },
    } as unknown as KMSClient;
    const config = loadAppConfig({ KMS_TIMEOUT_MS: '1000' });
    return { provider: new KmsKeyProvider(client, current, createKmsPolicy(config, metrics), metrics, previous, 'ca-central-1'), sent };
  }
  const sealedUnder = (keyId: string) => ({ provider: 'kms', keyId, ciphertext: Buffer.from('sealed') });

  it('opens a key sealed in another region under a previous multi-region key by its replica in this region', async () => {
    const { provider, sent } = providerIn([arn('us-east-1', mrk)]);
    await provider.unseal(sealedUnder(arn('us-east-1', mrk)), context);
    await provider.unseal(sealedUnder(arn('eu-west-1', mrk)), context);
    assert.deepEqual(
      sent.map(({ command, input }) => [command, input.KeyId]),
      [
        ['DecryptCommand', arn('ca-central-1', mrk)],
        ['DecryptCommand', arn('ca-central-1', mrk)],
      ],
    );
  });

  it('re-seals it from its replica in this region to KMS_KEY_ID', async () => {
    const { provider, sent } = providerIn([arn('ca-central-1', mrk)]);
    const resealed = await provider.reseal(sealedUnder(arn('us-east-1', mrk)), context);
    assert.equal(resealed.keyId, current);
    assert.equal(sent[0].command, 'ReEncryptCommand');
    assert.equal(sent[0].input.SourceKeyId, arn('ca-central-1', mrk));
    assert.equal(sent[0].input.DestinationKeyId, current);
  });

  it('refuses a key sealed under another multi-region key or account, without asking KMS', async () => {
    const { provider, sent } = providerIn([arn('us-east-1', mrk), previousSingle]);
    const otherKey = arn('us-east-1', 'mrk-99999999999999999999999999999999');
    const otherAccount = arn('us-east-1', mrk).replace(account, '210987654321');
    await assert.rejects(provider.unseal(sealedUnder(otherKey), context), UnsealFailedError);
    await assert.rejects(provider.reseal(sealedUnder(otherAccount), context), UnsealFailedError);
    assert.deepEqual(sent, []);
  });

  it('names a previous single-region key as it was sealed', async () => {
    const { provider, sent } = providerIn([previousSingle]);
    await provider.unseal(sealedUnder(previousSingle), context);
    assert.equal(sent[0].input.KeyId, previousSingle);
  });
});
