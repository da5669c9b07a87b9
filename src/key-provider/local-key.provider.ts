import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyProvider, SealContext, SealedKey, UnsealFailedError } from './key-provider';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** What rows sealed before master keys had ids carry (or NULL): any loaded master key may open them. */
const LEGACY_KEY_ID = 'local';

interface MasterKey {
  id: string;
  key: Buffer;
}

/** `local:` and the first 16 hex digits of the key's SHA-256: names the key without revealing it. */
const masterKeyId = (key: Buffer) => `local:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;

/**
 * Development-only provider: seals private keys with AES-256-GCM under a random master key kept
 * in a file (LOCAL_MASTER_KEY_FILE, default DATA_DIR/master.key, created on first start).
 * Refused in production by the configuration. Earlier master keys listed in
 * LOCAL_PREVIOUS_MASTER_KEY_FILES still unseal, so the embedded mode can rehearse a KMS key
 * migration: a new master key file, the old one listed as previous, then the migration job.
 * Sealed layout: iv (12) | tag (16) | ciphertext; additional data names the user and version.
 */
export class LocalKeyProvider implements KeyProvider {
  readonly name = 'local';

  private constructor(
    private readonly current: MasterKey,
    private readonly previous: MasterKey[],
  ) {}

  static async open(currentFile: string, previousFiles: readonly string[] = []): Promise<LocalKeyProvider> {
    await mkdir(dirname(currentFile), { recursive: true, mode: 0o700 });
    try {
      await writeFile(currentFile, randomBytes(32), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    await chmod(currentFile, 0o600);
    const read = async (path: string): Promise<MasterKey> => {
      const key = await readFile(path);
      if (key.length !== 32) throw new Error(`${path} is not a 32-byte key`);
      return { id: masterKeyId(key), key };
    };
    return new LocalKeyProvider(await read(currentFile), await Promise.all(previousFiles.map(read)));
  }

  async seal(plaintext: Buffer, context: SealContext): Promise<SealedKey> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(contextBytes(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { provider: this.name, keyId: this.current.id, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), ciphertext]) };
  }

  async unseal(sealed: SealedKey, context: SealContext): Promise<Buffer> {
    const blob = sealed.ciphertext;
    const candidates = [this.current, ...this.previous].filter((master) => sealed.keyId === LEGACY_KEY_ID || master.id === sealed.keyId);
    for (const master of candidates) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', master.key, blob.subarray(0, IV_BYTES));
        decipher.setAAD(contextBytes(context));
        decipher.setAuthTag(blob.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(blob.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      } catch {
        // the next candidate, if any
      }
    }
    throw new UnsealFailedError(
      candidates.length
        ? 'sealed key does not open under its context'
        : `sealed under master key ${sealed.keyId}, which is neither current nor listed as previous`,
    );
  }

  async currentKeyId(): Promise<string> {
    return this.current.id;
  }

  async reseal(sealed: SealedKey, context: SealContext): Promise<SealedKey> {
    const plaintext = await this.unseal(sealed, context);
    try {
      return await this.seal(plaintext, context);
    } finally {
      plaintext.fill(0);
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
