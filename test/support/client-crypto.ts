import { constants, createCipheriv, createDecipheriv, hkdfSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { ml_kem768_x25519 as xwing } from '@noble/post-quantum/hybrid.js';

/*
 * A client's own implementation of docs/ciphertext-format.md with node:crypto alone — written
 * from the document, importing nothing from src/, so the tests check the document too.
 */
const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
const aad = (userId: string, keyVersion: number) => Buffer.from(`ek1|${userId}|${keyVersion}`, 'ascii');

export function clientEncrypt(publicKeyPem: string, userId: string, keyVersion: number, plaintext: string): string {
  const dataKey = randomBytes(32);
  const wrappedKey = publicEncrypt({ key: publicKeyPem, ...OAEP }, dataKey);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(aad(userId, keyVersion));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const b64 = (b: Buffer) => b.toString('base64url');
  return ['ek1', keyVersion, b64(wrappedKey), b64(iv), b64(ciphertext), b64(cipher.getAuthTag())].join(':');
}

export function clientDecrypt(privateKeyPem: string, userId: string, text: string): string {
  const [prefix, version, wrappedKey, iv, ciphertext, tag] = text.split(':');
  if (prefix !== 'ek1') throw new Error('not ek1');
  const dataKey = privateDecrypt({ key: privateKeyPem, ...OAEP }, Buffer.from(wrappedKey, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(iv, 'base64url'));
  decipher.setAAD(aad(userId, Number(version)));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}

/*
 * The same for ek2 (docs/ciphertext-format.md, "ek2"), with X-Wing from @noble/post-quantum, an
 * implementation independent of the service's (node:crypto) one: what a client of another
 * stack would write from the document and a published X-Wing public key.
 */
const ek2Aad = (userId: string, keyVersion: number) => Buffer.from(`ek2|${userId}|${keyVersion}|X-Wing`, 'ascii');
const ek2Key = (sharedSecret: Uint8Array) => Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.alloc(0), 'ek2 aes-256-gcm key', 32));

export function clientEncryptEk2(publicKeyBase64: string, userId: string, keyVersion: number, plaintexts: readonly string[]): string[] {
  const { cipherText, sharedSecret } = xwing.encapsulate(Buffer.from(publicKeyBase64, 'base64'));
  const key = ek2Key(sharedSecret);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  return plaintexts.map((plaintext) => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(ek2Aad(userId, keyVersion));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['ek2', keyVersion, b64(cipherText), b64(iv), b64(ciphertext), b64(cipher.getAuthTag())].join(':');
  });
}

/** Decrypts an ek2 item with the version's 32-byte X-Wing seed, by the document and noble alone. */
export function clientDecryptEk2(seed: Uint8Array, userId: string, text: string): string {
  const [prefix, version, encapsulation, iv, ciphertext, tag] = text.split(':');
  if (prefix !== 'ek2') throw new Error('not ek2');
  const sharedSecret = xwing.decapsulate(Buffer.from(encapsulation, 'base64url'), xwing.keygen(seed).secretKey);
  const decipher = createDecipheriv('aes-256-gcm', ek2Key(sharedSecret), Buffer.from(iv, 'base64url'));
  decipher.setAAD(ek2Aad(userId, Number(version)));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}
