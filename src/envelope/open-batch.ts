import { createDecipheriv } from 'node:crypto';

/** Thrown when an item fails authentication; `index` is its position in the batch. */
export class AuthenticationFailedError extends Error {
  constructor(readonly index: number) {
    super(`item ${index} failed authentication`);
  }
}

/** What both formats' items carry: a key version, the batch's shared key field, and AES-256-GCM's parts. */
export interface SealedItem {
  keyVersion: number;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** How one format opens its items: where its shared key field is, how it becomes the data key, and the additional data. */
export interface BatchFormat<Item extends SealedItem> {
  /** The field every item of one encryption shares: ek1's RSA-wrapped data key, ek2's X-Wing encapsulation. */
  sharedKeyOf(item: Item): Buffer;
  /** The AES-256 data key the shared field holds, or AuthenticationFailedError(index). */
  openDataKey(item: Item, index: number): Buffer;
  additionalData(userId: string, keyVersion: number): Buffer;
}

/**
 * Decrypts the parsed items of one user, ek1 and ek2 alike: the data key of each distinct
 * (version, shared key) is opened once — one RSA private operation or one decapsulation — and
 * zeroed once the batch is done. The items of one /encrypt answer share their shared key, so each
 * is first compared with the previous item's (one memcmp) before a lookup by its encoding. Throws
 * AuthenticationFailedError for the first item, by position, that does not authenticate.
 */
export function openBatch<Item extends SealedItem>(userId: string, items: readonly Item[], format: BatchFormat<Item>): string[] {
  const dataKeys = new Map<string, Buffer>();
  let last: { keyVersion: number; shared: Buffer; dataKey: Buffer; aad: Buffer } | undefined;
  try {
    return items.map((item, index) => {
      const shared = format.sharedKeyOf(item);
      if (!last || last.keyVersion !== item.keyVersion || !last.shared.equals(shared)) {
        const id = `${item.keyVersion}:${shared.toString('base64url')}`;
        let dataKey = dataKeys.get(id);
        if (!dataKey) {
          dataKey = format.openDataKey(item, index);
          dataKeys.set(id, dataKey);
        }
        const aad = last?.keyVersion === item.keyVersion ? last.aad : format.additionalData(userId, item.keyVersion);
        last = { keyVersion: item.keyVersion, shared, dataKey, aad };
      }
      return decryptItem(item, last.dataKey, last.aad, index);
    });
  } finally {
    for (const key of dataKeys.values()) key.fill(0);
  }
}

function decryptItem(item: SealedItem, dataKey: Buffer, aad: Buffer, index: number): string {
  const decipher = createDecipheriv('aes-256-gcm', dataKey, item.iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(item.tag);
  let plaintext: Buffer | undefined;
  try {
    plaintext = Buffer.concat([decipher.update(item.ciphertext), decipher.final()]);
    return plaintext.toString('utf8');
  } catch {
    throw new AuthenticationFailedError(index);
  } finally {
    plaintext?.fill(0);
  }
}
