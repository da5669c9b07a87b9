import { constants, createCipheriv, createDecipheriv, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';

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
