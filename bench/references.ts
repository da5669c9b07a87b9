import { AlgorithmSuiteIdentifier, AwsEsdkKeyObject, buildClient, CommitmentPolicy, RawRsaKeyringNode } from '@aws-crypto/client-node';
import { availableParallelism } from 'node:os';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SharedFieldMemo } from '../src/envelope/ciphertext-format';
import { decryptAny, encryptFor, KeyAlgorithm, parseAnyCiphertext, PrivateKeyOf, PublicKeyOf, X_WING } from '../src/envelope/ciphertexts';
import { generateRsaKeyPair, generateXWingKey } from '../src/envelope/key-pair';
import { generateXWingSeed, XWingPrivateKey, XWingPublicKey } from '../src/envelope/xwing';
import { makeItems } from './workload';

/**
 * The benchmark's references, in a child process of their own driven by bench/main.ts over IPC:
 * - the ceiling: the envelope (src/envelope/ciphertexts.ts: ek2 for X-Wing, ek1 for RSA-OAEP-256)
 *   called in-process on this one thread (one core), no HTTP;
 * - the peer: the AWS Encryption SDK with a raw RSA-OAEP-SHA256 keyring, one message per item;
 * - the machine's key-generation rate on all cores (the service's own generateRsaKeyPair, or
 *   generateXWingKey on the event loop as the service does).
 */

export type PeerSuite = keyof typeof PEER_SUITES;

export type ReferenceTask =
  | { kind: 'ceiling'; algorithm: KeyAlgorithm; operation: 'encrypt' | 'decrypt'; items: number; seconds: number }
  | { kind: 'peer'; suite: PeerSuite; seconds: number }
  | { kind: 'keygen'; algorithm: KeyAlgorithm; bits: number; seconds: number };

export interface CeilingResult {
  requestsPerSecond: number;
  itemsPerSecond: number;
}

export interface PeerResult {
  suite: PeerSuite;
  signed: boolean;
  encryptItemsPerSecond: number;
  decryptItemsPerSecond: number;
}

export interface KeygenResult {
  keysPerSecond: number;
  concurrency: number;
}

export const PEER_SUITES = {
  'unsigned, AES-256-GCM, HKDF-SHA256': {
    signed: false,
    policy: CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
    suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
  },
  'unsigned, AES-256-GCM, no KDF': {
    signed: false,
    policy: CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
    suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16,
  },
  'unsigned, committing, HKDF-SHA512': {
    signed: false,
    policy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  },
  'default: signed ECDSA P-384, committing': {
    signed: true,
    policy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    suiteId: undefined,
  },
} as const;

const USER_ID = '4242';
const KEY_VERSION = 1;
/** Distinct batches, each under its own data key, cycled through by the decrypt ceiling. */
const DECRYPT_POOL = 8;

let keyPair: { publicKey: KeyObject; privateKey: KeyObject } | undefined;
const referenceKeys = () => (keyPair ??= generateKeyPairSync('rsa', { modulusLength: 2048 }));

/** The person's key in `algorithm`, as the service holds it: public key parsed, private key unsealed (an X-Wing seed expanded). */
function personKeys(algorithm: KeyAlgorithm): { publicKey: PublicKeyOf; privateKey: PrivateKeyOf } {
  if (algorithm === X_WING) {
    const privateKey = XWingPrivateKey.fromSeed(generateXWingSeed());
    return {
      publicKey: { algorithm, publicKey: XWingPublicKey.fromBytes(privateKey.publicKey) },
      privateKey: { algorithm, privateKey },
    };
  }
  const { publicKey, privateKey } = referenceKeys();
  return { publicKey: { algorithm, publicKey }, privateKey: { algorithm, privateKey } };
}

async function ceiling(algorithm: KeyAlgorithm, operation: 'encrypt' | 'decrypt', count: number, seconds: number): Promise<CeilingResult> {
  const { publicKey, privateKey } = personKeys(algorithm);
  const recipient = { userId: USER_ID, keyVersion: KEY_VERSION, ...publicKey };
  const items = makeItems(count);
  let step: () => void;
  if (operation === 'encrypt') {
    step = () => encryptFor(items, recipient);
  } else {
    // As the service does per request: parse every item, open the batch's data key (one RSA
    // private operation or X-Wing decapsulation), decrypt every item.
    const pool = Array.from({ length: DECRYPT_POOL }, () => encryptFor(items, recipient));
    let next = 0;
    step = () => {
      const batch = pool[next++ % DECRYPT_POOL];
      const memo = new SharedFieldMemo(); // as CryptoService.parseAll: the shared field decoded once per batch
      decryptAny(
        USER_ID,
        batch.map((item) => parseAnyCiphertext(item, memo)),
        () => privateKey,
      );
    };
  }
  const batchesPerSecond = await rate(seconds, step);
  return { requestsPerSecond: batchesPerSecond, itemsPerSecond: batchesPerSecond * count };
}

async function peer(suite: PeerSuite, seconds: number): Promise<PeerResult> {
  const { policy, suiteId, signed } = PEER_SUITES[suite];
  const client = buildClient(policy);
  const { publicKey, privateKey } = referenceKeys();
  const keyring = new RawRsaKeyringNode({
    keyNamespace: 'pii-bench',
    keyName: 'user-4242',
    // The SDK's own KeyObject type omits key types newer than it; these are plain RSA keys.
    rsaKey: { publicKey: publicKey as unknown as AwsEsdkKeyObject, privateKey: privateKey as unknown as AwsEsdkKeyObject },
    oaepHash: 'sha256',
  });
  const encryptionContext = { userId: USER_ID };
  const items = makeItems(64);
  let next = 0;
  const encryptOne = () =>
    client.encrypt(keyring, items[next++ % items.length], suiteId === undefined ? { encryptionContext } : { encryptionContext, suiteId });
  const encryptItemsPerSecond = await rate(seconds, encryptOne);
  const messages = await Promise.all(items.map(async () => (await encryptOne()).result));
  const decryptItemsPerSecond = await rate(seconds, () => client.decrypt(keyring, messages[next++ % messages.length]));
  return { suite, signed, encryptItemsPerSecond, decryptItemsPerSecond };
}

/**
 * Key pairs per second: RSA with one generation in flight per core (libuv's pool is sized to
 * match); X-Wing on this one thread, as the service makes them on its event loop.
 */
async function keygen(algorithm: KeyAlgorithm, bits: number, seconds: number): Promise<KeygenResult> {
  if (algorithm === X_WING) {
    return { keysPerSecond: await rate(seconds, () => generateXWingKey().seed.fill(0)), concurrency: 1 };
  }
  const concurrency = availableParallelism();
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let generated = 0;
  const generator = async () => {
    while (performance.now() < deadline) {
      const pair = await generateRsaKeyPair(bits);
      pair.privateKeyDer.fill(0);
      generated++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, generator));
  return { keysPerSecond: generated / ((performance.now() - start) / 1000), concurrency };
}

/**
 * Operations per second of `step`, after a warm-up of a fifth of the time. A synchronous step runs
 * back to back (no await between calls); an asynchronous one has one call in flight.
 */
async function rate(seconds: number, step: () => unknown): Promise<number> {
  const run = async (ms: number) => {
    const start = performance.now();
    let count = 0;
    let now = start;
    while (now - start < ms) {
      const result = step();
      if (result instanceof Promise) await result;
      count++;
      now = performance.now();
    }
    return count / ((now - start) / 1000);
  };
  await run(seconds * 200);
  return run(seconds * 1000);
}

async function perform(task: ReferenceTask): Promise<unknown> {
  switch (task.kind) {
    case 'ceiling':
      return ceiling(task.algorithm, task.operation, task.items, task.seconds);
    case 'peer':
      return peer(task.suite, task.seconds);
    case 'keygen':
      return keygen(task.algorithm, task.bits, task.seconds);
  }
}

if (require.main === module) {
  process.on('message', (message: { id: number; task: ReferenceTask }) => {
    perform(message.task).then(
      (result) => process.send!({ id: message.id, result }),
      (error: unknown) => process.send!({ id: message.id, error: String((error as Error)?.stack ?? error) }),
    );
  });
}
