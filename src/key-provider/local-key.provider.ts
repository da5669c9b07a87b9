import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyProvider, SealContext, SealedKey, UnsealFailedError } from './key-provider';

const MASTER_KEY_FILE = 'master.key';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Development-only provider: seals private keys with AES-256-GCM under a random master key kept
 * in DATA_DIR/master.key. Refused in production by the configuration.
 * Sealed layout: iv (12) | tag (16) | ciphertext; additional data names the user and version.
 */
export class LocalKeyProvider implements KeyProvider {
  readonly name = 'local';

  private constructor(private readonly masterKey: Buffer) {}

  static async open(dataDir: string): Promise<LocalKeyProvider> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, MASTER_KEY_FILE);
    try {
      await writeFile(path, randomBytes(32), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    await chmod(path, 0o600);
    const masterKey = await readFile(path);
    if (masterKey.length !== 32) throw new Error(`${path} is not a 32-byte key`);
    return new LocalKeyProvider(masterKey);
  }

  async seal(plaintext: Buffer, context: SealContext): Promise<SealedKey> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, iv);
    cipher.setAAD(contextBytes(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { provider: this.name, keyId: 'local', ciphertext: Buffer.concat([iv, cipher.getAuthTag(), ciphertext]) };
  }

  async unseal(sealed: SealedKey, context: SealContext): Promise<Buffer> {
    const blob = sealed.ciphertext;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.masterKey, blob.subarray(0, IV_BYTES));
      decipher.setAAD(contextBytes(context));
      decipher.setAuthTag(blob.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(blob.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch (error) {
      throw new UnsealFailedError('sealed key does not open under its context', { cause: error });
    }
  }

  async checkHealth(): Promise<Record<string, unknown>> {
    return { provider: this.name };
  }
}

function contextBytes(context: SealContext): Buffer {
  const subject = 'secret' in context ? `secret:${context.secret}` : `user:${context.userId}`;
  return Buffer.from(`${subject}|version:${context.keyVersion}`, 'utf8');
}
