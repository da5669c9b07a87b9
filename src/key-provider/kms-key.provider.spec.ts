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
