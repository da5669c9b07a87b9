import {
  createHash,
  createPrivateKey,
  createPublicKey,
  decapsulate,
  diffieHellman,
  encapsulate,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
} from 'node:crypto';

/**
 * X-Wing, the hybrid ML-KEM-768 + X25519 KEM of draft-connolly-cfrg-xwing-kem (construction
 * unchanged since -06; checked against its published test vectors, @noble/post-quantum and Node's
 * Web Crypto MLKEM768-X25519 in the specs), composed from node:crypto's ML-KEM-768, X25519,
 * SHAKE256 and SHA3-256:
 *
 *   expanded = SHAKE256(seed, 96 bytes)
 *   ML-KEM-768 key pair from its seed (d || z) = expanded[0:32] || expanded[32:64]
 *   X25519 private key = expanded[64:96]
 *   public key  = pk_M (1184) || pk_X (32)                                   1216 bytes
 *   ciphertext  = ct_M (1088) || ct_X (32)                                   1120 bytes
 *   shared secret = SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")       32 bytes
 *
 * The private key is the 32-byte seed alone; XWingPrivateKey is its expansion, which a caller may
 * keep for several decapsulations (the draft allows caching it, never transmitting it).
 *
 * X25519 is the function of RFC 7748 §5, as the draft requires: a low-order ct_X (or pk_X) gives
 * the all-zero ss_X, and decapsulation does not fail. The draft asks for no all-zero check, since
 * the secret then still rests on ML-KEM-768 and the combiner hashes ct_X and pk_X. OpenSSL refuses
 * to return that all-zero value, so `x25519` below answers it for the refusal.
 */
export const XWING_SEED_BYTES = 32;
export const XWING_PUBLIC_KEY_BYTES = 1216;
export const XWING_CIPHERTEXT_BYTES = 1120;
export const XWING_SHARED_SECRET_BYTES = 32;

const ML_KEM_PUBLIC_KEY_BYTES = 1184;
const ML_KEM_CIPHERTEXT_BYTES = 1088;
const X25519_BYTES = 32;
/** XWingLabel: the ASCII of `\./` `/^\`, hex 5c2e2f2f5e5c. */
const XWING_LABEL = Buffer.from('5c2e2f2f5e5c', 'hex');

/**
 * A seed, public key or ciphertext of the wrong length or content: thrown before any secret is
 * touched. A caller decrypting maps it like an authentication failure (ENC002).
 */
export class XWingInputError extends Error {}

/** A fresh X-Wing private key: 32 random bytes (draft: GenerateKeyPair). */
export function generateXWingSeed(): Buffer {
  return randomBytes(XWING_SEED_BYTES);
}

/** The expanded private key of a seed: what decapsulation needs, derived once. */
export class XWingPrivateKey {
  private constructor(
    private readonly mlKem: KeyObject,
    private readonly x25519Key: KeyObject,
    /** pk_M || pk_X */
    readonly publicKey: Buffer,
  ) {}

  /** draft: expandDecapsulationKey(seed). The seed is not kept; the caller zeroes it when done. */
  static fromSeed(seed: Buffer): XWingPrivateKey {
    if (!Buffer.isBuffer(seed) || seed.length !== XWING_SEED_BYTES)
      throw new XWingInputError(`an X-Wing seed is ${XWING_SEED_BYTES} bytes`);
    const expanded = createHash('shake256', { outputLength: 96 }).update(seed).digest();
    try {
      const mlKem = createPrivateKey({ key: expanded.subarray(0, 64), format: 'raw-seed', asymmetricKeyType: 'ml-kem-768' });
      const x25519Key = createPrivateKey({ key: expanded.subarray(64, 96), format: 'raw-private', asymmetricKeyType: 'x25519' });
      const publicKey = Buffer.concat([rawPublic(mlKem), rawPublic(x25519Key)]);
      return new XWingPrivateKey(mlKem, x25519Key, publicKey);
    } finally {
      expanded.fill(0);
    }
  }

  /** draft: Decapsulate(ct, sk). A ciphertext that was tampered with gives another secret (implicit rejection). */
  decapsulate(ciphertext: Buffer): Buffer {
    if (!Buffer.isBuffer(ciphertext) || ciphertext.length !== XWING_CIPHERTEXT_BYTES) {
      throw new XWingInputError(`an X-Wing ciphertext is ${XWING_CIPHERTEXT_BYTES} bytes`);
    }
    const ctX = ciphertext.subarray(ML_KEM_CIPHERTEXT_BYTES);
    const ssM = decapsulate(this.mlKem, ciphertext.subarray(0, ML_KEM_CIPHERTEXT_BYTES));
    const ssX = x25519(this.x25519Key, x25519PublicKey(ctX));
    return combine(ssM, ssX, ctX, this.publicKey.subarray(ML_KEM_PUBLIC_KEY_BYTES));
  }
}

/** A recipient's public key, parsed once: the ML-KEM half passes FIPS 203's §7.2 check here or is refused. */
export class XWingPublicKey {
  private constructor(
    private readonly mlKem: KeyObject,
    private readonly x25519Key: KeyObject,
    readonly bytes: Buffer,
  ) {}

  static fromBytes(publicKey: Buffer): XWingPublicKey {
    if (!Buffer.isBuffer(publicKey) || publicKey.length !== XWING_PUBLIC_KEY_BYTES) {
      throw new XWingInputError(`an X-Wing public key is ${XWING_PUBLIC_KEY_BYTES} bytes`);
    }
    let mlKem: KeyObject;
    try {
      mlKem = createPublicKey({
        key: publicKey.subarray(0, ML_KEM_PUBLIC_KEY_BYTES),
        format: 'raw-public',
        asymmetricKeyType: 'ml-kem-768',
      });
    } catch {
      throw new XWingInputError('the ML-KEM-768 half of the X-Wing public key is not a valid encapsulation key');
    }
    return new XWingPublicKey(mlKem, x25519PublicKey(publicKey.subarray(ML_KEM_PUBLIC_KEY_BYTES)), Buffer.from(publicKey));
  }

  /** draft: Encapsulate(pk): a fresh 32-byte shared secret and the 1120-byte ciphertext that carries it. */
  encapsulate(): { ciphertext: Buffer; sharedSecret: Buffer } {
    const ephemeral = generateKeyPairSync('x25519');
    const ctX = rawPublic(ephemeral.publicKey);
    const ssX = x25519(ephemeral.privateKey, this.x25519Key);
    const { ciphertext: ctM, sharedKey: ssM } = encapsulate(this.mlKem);
    const sharedSecret = combine(ssM, ssX, ctX, this.bytes.subarray(ML_KEM_PUBLIC_KEY_BYTES));
    return { ciphertext: Buffer.concat([ctM, ctX]), sharedSecret };
  }
}

/** The shared secret that `ciphertext` carries for the private key of `seed` (draft: Decapsulate). */
export function xwingDecapsulate(seed: Buffer, ciphertext: Buffer): Buffer {
  return XWingPrivateKey.fromSeed(seed).decapsulate(ciphertext);
}

/** The 1216-byte public key of a seed (draft: GenerateKeyPairDerand). */
export function xwingPublicKey(seed: Buffer): Buffer {
  return XWingPrivateKey.fromSeed(seed).publicKey;
}

/** A fresh shared secret for the holder of `publicKey` and the ciphertext that carries it (draft: Encapsulate). */
export function xwingEncapsulate(publicKey: Buffer): { ciphertext: Buffer; sharedSecret: Buffer } {
  return XWingPublicKey.fromBytes(publicKey).encapsulate();
}

/** draft: Combiner. Zeroes the two component secrets. */
function combine(ssM: Buffer, ssX: Buffer, ctX: Buffer, pkX: Buffer): Buffer {
  try {
    return createHash('sha3-256').update(ssM).update(ssX).update(ctX).update(pkX).update(XWING_LABEL).digest();
  } finally {
    ssM.fill(0);
    ssX.fill(0);
  }
}

/**
 * X25519(k, u) of RFC 7748 §5. For a low-order u the product is the point at infinity, whose
 * u-coordinate the function returns as 32 zero bytes; OpenSSL refuses to derive it instead
 * ("failed during derivation", its only failure for valid keys), so that refusal is answered with
 * the zeros. Whether u was low-order is public (it is on the wire), so the branch leaks nothing.
 */
function x25519(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  try {
    return diffieHellman({ privateKey, publicKey });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_OSSL_FAILED_DURING_DERIVATION') return Buffer.alloc(X25519_BYTES);
    throw error;
  }
}

function x25519PublicKey(u: Buffer): KeyObject {
  return createPublicKey({ key: u, format: 'raw-public', asymmetricKeyType: 'x25519' });
}

function rawPublic(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'raw-public' });
}
