import { DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { KeyProvider, SealContext, SealedKey, UnsealFailedError } from './key-provider';

/**
 * Seals private keys with KMS Encrypt/Decrypt under one symmetric key (KMS_KEY_ID). The
 * encryption context names the user and key version, so a sealed key copied to another row
 * does not decrypt, and CloudTrail shows whose key was opened.
 */
export class KmsKeyProvider implements KeyProvider {
  readonly name = 'kms';

  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
  ) {}

  async seal(plaintext: Buffer, context: SealContext): Promise<SealedKey> {
    const result = await this.client.send(
      new EncryptCommand({ KeyId: this.keyId, Plaintext: plaintext, EncryptionContext: encryptionContext(context) }),
    );
    if (!result.CiphertextBlob) throw new Error('KMS Encrypt returned no ciphertext');
    return { provider: this.name, keyId: result.KeyId ?? this.keyId, ciphertext: Buffer.from(result.CiphertextBlob) };
  }

  async unseal(sealed: SealedKey, context: SealContext): Promise<Buffer> {
    try {
      const result = await this.client.send(
        new DecryptCommand({
          KeyId: sealed.keyId,
          CiphertextBlob: sealed.ciphertext,
          EncryptionContext: encryptionContext(context),
        }),
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
    const { KeyMetadata } = await this.client.send(new DescribeKeyCommand({ KeyId: this.keyId }));
    if (!KeyMetadata?.Enabled) throw new Error(`KMS key is ${KeyMetadata?.KeyState ?? 'unknown'}`);
    return { provider: this.name, keyState: KeyMetadata.KeyState };
  }
}

function encryptionContext({ userId, keyVersion }: SealContext): Record<string, string> {
  return { service: 'pii-encryption-api', userId, keyVersion: String(keyVersion) };
}
