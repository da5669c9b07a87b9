import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseCiphertext } from '../src/envelope/ciphertext-format';
import { parseEk2Ciphertext } from '../src/envelope/ciphertext-format-ek2';
import { decryptBatch, encryptBatch } from '../src/envelope/envelope';
import { decryptBatchEk2, encryptBatchEk2 } from '../src/envelope/envelope-ek2';
import { generateXWingSeed, XWingPrivateKey, XWingPublicKey } from '../src/envelope/xwing';

/**
 * The cost of the per-person key operations in one process, X-Wing (src/envelope/xwing.ts) next to
 * RSA-2048: key generation, the KEM / key-wrap step alone, and one 100-item batch end to end.
 * Single-threaded, synchronous calls, no service around them.
 *
 *   tsc -p bench/tsconfig.json && node .build/bench-run/bench/xwing.js      (XWING_SECONDS=1 per case)
 */
const SECONDS = Number(process.env.XWING_SECONDS ?? 1);
const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const;

function measure(name: string, operation: () => unknown): void {
  for (let i = 0; i < 5; i++) operation();
  const times: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end || times.length < 10) {
    const start = performance.now();
    operation();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const p99 = times[Math.min(times.length - 1, Math.floor(times.length * 0.99))];
  console.log(`| ${name} | ${format(median)} | ${format(p99)} | ${Math.round(1000 / median).toLocaleString('en')} | ${times.length} |`);
}

const format = (ms: number) => (ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(2)} ms`);

const seed = generateXWingSeed();
const xwing = XWingPrivateKey.fromSeed(seed);
const xwingPublic = XWingPublicKey.fromBytes(xwing.publicKey);
const { ciphertext: encapsulation } = xwingPublic.encapsulate();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const wrapped = publicEncrypt({ key: rsa.publicKey, ...OAEP }, randomBytes(32));
const items = Array.from({ length: 100 }, (_, i) => `item ${i} `.padEnd(32, '.'));
const ek1Items = encryptBatch(items, { userId: '42', keyVersion: 1, publicKey: rsa.publicKey }).map((item) => parseCiphertext(item));
const ek2Items = encryptBatchEk2(items, { userId: '42', keyVersion: 1, publicKey: xwingPublic }).map((item) => parseEk2Ciphertext(item));

console.log(`Node ${process.version}, OpenSSL ${process.versions.openssl}; median and p99 of ${SECONDS} s per case\n`);
console.log('| operation | median | p99 | per second | runs |');
console.log('|---|---|---|---|---|');
measure('X-Wing key generation (seed + expansion + public key)', () => XWingPrivateKey.fromSeed(generateXWingSeed()));
measure('RSA-2048 key generation', () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
measure('X-Wing encapsulate (parsed public key)', () => xwingPublic.encapsulate());
measure('X-Wing parse public key + encapsulate', () => XWingPublicKey.fromBytes(xwing.publicKey).encapsulate());
measure('RSA-2048 OAEP encrypt (wrap 32 bytes)', () => publicEncrypt({ key: rsa.publicKey, ...OAEP }, randomBytes(32)));
measure('X-Wing decapsulate (expanded key)', () => xwing.decapsulate(encapsulation));
measure('X-Wing expand seed + decapsulate', () => XWingPrivateKey.fromSeed(seed).decapsulate(encapsulation));
measure('RSA-2048 OAEP decrypt (unwrap)', () => privateDecrypt({ key: rsa.privateKey, ...OAEP }, wrapped));
measure('ek1 encrypt, 100 items of 32 bytes', () => encryptBatch(items, { userId: '42', keyVersion: 1, publicKey: rsa.publicKey }));
measure('ek2 encrypt, 100 items of 32 bytes', () => encryptBatchEk2(items, { userId: '42', keyVersion: 1, publicKey: xwingPublic }));
measure('ek1 decrypt, 100 items of 32 bytes', () => decryptBatch('42', ek1Items, () => rsa.privateKey));
measure('ek2 decrypt, 100 items of 32 bytes (expanded key)', () => decryptBatchEk2('42', ek2Items, () => xwing));
