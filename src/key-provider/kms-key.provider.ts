import { DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient, ReEncryptCommand } from '@aws-sdk/client-kms';
import { performance } from 'node:perf_hooks';
import { DependencyPolicy, isCircuitOpen, isTimeout } from '../common/dependency-policy';
import { multiRegionKeyIn, sameMultiRegionKey } from '../common/kms-key-ids';
import { DEPENDENCY_RETRY_AFTER_SECONDS, KMS_CALL_BUDGET_MS, KMS_MAX_ATTEMPTS } from '../common/limits';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { KeyProvider, SealContext, SealedKey, UnsealFailedError } from './key-provider';

/**
 * Errors that say "try again later": throttling, KMS's own faults, a key not usable right now,
 * and the SDK's names for a request that timed out, was aborted or never reached KMS.
 */
const UNAVAILABLE_ERROR_NAMES = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KMSInvalidStateException',
  'DisabledException',
  'KeyUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'NetworkingError',
  'AbortError',
]);
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

type AwsError = Error & { code?: string; $metadata?: { httpStatusCode?: number } };

const isServerFault = (error: AwsError) =>
  (error.$metadata?.httpStatusCode ?? 0) >= 500 || error.name === 'KMSInternalException' || error.name === 'DependencyTimeoutException';

/** Retried: throttling and 5xx only; anything else would fail the same way again. */
const isRetryable = (error: AwsError) => error.name === 'ThrottlingException' || isServerFault(error);

/** Counted against the breaker and answered with 503 SYS002 (by the policy); anything else is a bug or a refusal. */
const isUnavailable = (error: AwsError) =>
  UNAVAILABLE_ERROR_NAMES.has(error.name) || isServerFault(error) || NETWORK_ERROR_CODES.has(error.code ?? '');

/**
 * Per attempt KMS_TIMEOUT_MS, up to KMS_MAX_ATTEMPTS attempts on throttling and 5xx with
 * exponential backoff and jitter, the whole call within KMS_CALL_BUDGET_MS, and a circuit breaker
 * shared by every KMS call of this process.
 */
export function createKmsPolicy(config: AppConfig, metrics: MetricsService): DependencyPolicy {
  return new DependencyPolicy({
    name: 'kms',
    label: 'KMS',
    attemptTimeoutMs: config.keys.kmsTimeoutMs,
    totalTimeoutMs: KMS_CALL_BUDGET_MS,
    breakerResetMs: config.circuitBreakerResetMs,
    isDependencyFailure: isUnavailable,
    retry: { attempts: KMS_MAX_ATTEMPTS, when: isRetryable },
    // Keys are sealed and unsealed before any write: a request refused for KMS did nothing.
    retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS,
    metrics,
  });
}

/**
 * Seals private keys with KMS Encrypt/Decrypt under one symmetric key (KMS_KEY_ID). The
 * encryption context names the user (or the platform secret, e.g. `blind-index:sin`) and key version, so a sealed key copied to another row
 * does not decrypt, and CloudTrail shows whose key was opened.
 */
export class KmsKeyProvider implements KeyProvider {
  readonly name = 'kms';

  /** KMS_KEY_ID and KMS_PREVIOUS_KEY_IDS as ARNs, resolved once by DescribeKey unless already ARNs. */
  private resolved?: Promise<{ current: string; allowed: Set<string> }>;

  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
    private readonly policy: DependencyPolicy,
    private readonly metrics: MetricsService,
    /** KMS_PREVIOUS_KEY_IDS: keys whose seals may still be unsealed (and re-sealed) until a migration is done. */
    private readonly previousKeyIds: readonly string[] = [],
    /** AWS_REGION: where the client calls KMS, so a multi-region key is named by its replica here. */
    private readonly region?: string,
  ) {}

  async currentKeyId(): Promise<string> {
    return (await this.keys()).current;
  }

  /** KMS ReEncrypt from the key that sealed it to KMS_KEY_ID, the encryption context unchanged: the plaintext stays inside KMS. */
  async reseal(sealed: SealedKey, context: SealContext): Promise<SealedKey> {
    const sourceKeyId = await this.sourceKeyOf(sealed.keyId);
    const encryption = encryptionContext(context);
    try {
      const result = await this.call('ReEncrypt', (abortSignal) =>
        this.client.send(
          new ReEncryptCommand({
            CiphertextBlob: sealed.ciphertext,
            SourceKeyId: sourceKeyId,
            SourceEncryptionContext: encryption,
            DestinationKeyId: this.keyId,
            DestinationEncryptionContext: encryption,
          }),
          { abortSignal },
        ),
      );
      if (!result.CiphertextBlob) throw new Error('KMS ReEncrypt returned no ciphertext');
      return { provider: this.name, keyId: result.KeyId ?? this.keyId, ciphertext: Buffer.from(result.CiphertextBlob) };
    } catch (error) {
      if ((error as { name?: string }).name === 'InvalidCiphertextException') {
        throw new UnsealFailedError('KMS refused the sealed key under its encryption context', { cause: error });
      }
      throw error;
    }
  }

  /**
   * The KMS key to name when opening a key sealed under `keyId`, which must be KMS_KEY_ID or listed
   * in KMS_PREVIOUS_KEY_IDS (else UnsealFailedError). A multi-region key has the same key id
   * (`mrk-…`) in every region, and what one replica sealed any other opens: sealed in another
   * region under a replica of KMS_KEY_ID, or of a previous multi-region key (listed by its ARN in
   * any region), it is named by its replica in this region (AWS_REGION), so a failover region, or
   * a migration away from a multi-region key, unseals locally.
   */
  private async sourceKeyOf(keyId: string): Promise<string> {
    if (keyId === this.keyId || sameMultiRegionKey(keyId, this.keyId)) return this.keyId;
    const listed = (ids: Iterable<string>) => [...ids].some((id) => id === keyId || sameMultiRegionKey(id, keyId));
    if (!listed(this.previousKeyIds) && !listed((await this.keys()).allowed)) {
      throw new UnsealFailedError(`sealed under KMS key ${keyId}, which is neither KMS_KEY_ID nor listed in KMS_PREVIOUS_KEY_IDS`);
    }
    return (this.region && multiRegionKeyIn(keyId, this.region)) || keyId;
  }

  private keys(): Promise<{ current: string; allowed: Set<string> }> {
    this.resolved ??= (async () => {
      const [current, ...previous] = await Promise.all([this.keyId, ...this.previousKeyIds].map((id) => this.arnOf(id)));
      return { current, allowed: new Set([current, ...previous]) };
    })();
    // A failed resolution (KMS unavailable) is tried again by the next call.
    this.resolved.catch(() => (this.resolved = undefined));
    return this.resolved;
  }

  private async arnOf(keyId: string): Promise<string> {
    if (/^arn:aws[\w-]*:kms:[^:]+:\d+:key\//.test(keyId)) return keyId;
    const { KeyMetadata } = await this.call('DescribeKey', (abortSignal) =>
      this.client.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal }),
    );
    if (!KeyMetadata?.Arn) throw new Error('KMS DescribeKey returned no ARN');
    return KeyMetadata.Arn;
  }

  async seal(plaintext: Buffer, context: SealContext): Promise<SealedKey> {
    const result = await this.call('Encrypt', (abortSignal) =>
      this.client.send(new EncryptCommand({ KeyId: this.keyId, Plaintext: plaintext, EncryptionContext: encryptionContext(context) }), {
        abortSignal,
      }),
    );
    if (!result.CiphertextBlob) throw new Error('KMS Encrypt returned no ciphertext');
    return { provider: this.name, keyId: result.KeyId ?? this.keyId, ciphertext: Buffer.from(result.CiphertextBlob) };
  }

  async unseal(sealed: SealedKey, context: SealContext): Promise<Buffer> {
    const keyId = await this.sourceKeyOf(sealed.keyId);
    try {
      const result = await this.call('Decrypt', (abortSignal) =>
        this.client.send(
          new DecryptCommand({
            KeyId: keyId,
            CiphertextBlob: sealed.ciphertext,
            EncryptionContext: encryptionContext(context),
          }),
          { abortSignal },
        ),
      );
      if (!result.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
      return Buffer.from(result.Plaintext.buffer, result.Plaintext.byteOffset, result.Plaintext.byteLength);
    } catch (error) {
      if ((error as { name?: string }).name === 'InvalidCiphertextException') {
        throw new UnsealFailedError('KMS refused the sealed key under its encryption context', { cause: error });
      }
      throw error;
    }
  }

  async checkHealth(): Promise<Record<string, unknown>> {
    const { KeyMetadata } = await this.call('DescribeKey', (abortSignal) =>
      this.client.send(new DescribeKeyCommand({ KeyId: this.keyId }), { abortSignal }),
    );
    if (!KeyMetadata?.Enabled) throw new Error(`KMS key is ${KeyMetadata?.KeyState ?? 'unknown'}`);
    return { provider: this.name, keyState: KeyMetadata.KeyState };
  }

  /**
   * One KMS call through the policy, measured. Unavailability (the errors above, timeouts, the
   * open breaker) rejects with 503 SYS002, so no AWS error needs recognising further up.
   */
  private async call<T>(operation: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await this.policy.execute(send);
      this.metrics.observeKmsCall(operation, 'success', seconds());
      return result;
    } catch (error) {
      this.metrics.observeKmsCall(operation, isCircuitOpen(error) ? 'rejected' : isTimeout(error) ? 'timeout' : 'error', seconds());
      throw error;
    }
  }
}

function encryptionContext(context: SealContext): Record<string, string> {
  const keyVersion = String(context.keyVersion);
  return 'secret' in context
    ? { service: 'pii-encryption-api', secret: context.secret, keyVersion }
    : { service: 'pii-encryption-api', userId: context.userId, keyVersion };
}
