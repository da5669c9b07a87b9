import { Inject, Injectable } from '@nestjs/common';
import { createPrivateKey, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { keyNotFound, keyPendingDeletion } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { KeyAlgorithm, PrivateKeyOf, PublicKeyOf, publishedPublicKey, RSA_OAEP_256, X_WING } from '../envelope/ciphertexts';
import { generateRsaKeyPair, generateXWingKey } from '../envelope/key-pair';
import { XWingPrivateKey } from '../envelope/xwing';
import { KEY_PROVIDER, KeyProvider, SealedKey, SecretContext } from '../key-provider/key-provider';
import { UserKeyRepository } from '../repositories/user-key.repository';
import { PrivateKeyCache } from './private-key-cache.service';
import { PublicKeyCache } from './public-key-cache.service';
import { SecretKeyCache } from './secret-key-cache.service';

/** A key version's public key, parsed, with its version and algorithm. */
export type CurrentPublicKey = { keyVersion: number } & PublicKeyOf;

/** A new key pair of the configured algorithm, its private half already sealed for (userId, keyVersion). */
export type PreparedKey = CurrentPublicKey & {
  /** As GET /keys publishes it: SPKI PEM (RSA-OAEP-256) or base64 (X-Wing). */
  publishedKey: string;
  sealed: SealedKey;
};

/**
 * Key material: generating and sealing new key pairs, unsealing private keys, and the two
 * caches in front of them (public keys in Redis or memory, unsealed private keys in this process
 * only). The only user of the key provider. Private keys leave this class only unsealed in memory.
 */
@Injectable()
export class KeyMaterialService {
  constructor(
    private readonly keys: UserKeyRepository,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    private readonly publicKeys: PublicKeyCache,
    private readonly privateKeys: PrivateKeyCache,
    private readonly secrets: SecretKeyCache,
    private readonly config: AppConfig,
  ) {}

  /**
   * The current public key, from the cache when possible, else from the primary (where the cache
   * cannot tell of evictions on other replicas — PostgreSQL without Redis — every time); KEY001
   * when the user has none, KEY005 when their keys are pending deletion. A pending deletion is read
   * with the key row and never cached: scheduling it evicts the key on every replica (the key
   * epoch), and a fill is refused for it, so no replica encrypts for a person pending deletion.
   * Concurrent misses share one read of the primary (PublicKeyCache.load).
   */
  async currentPublicKey(userId: string): Promise<CurrentPublicKey> {
    const lookup = await this.publicKeys.get(userId);
    const current =
      lookup.key ??
      (await this.publicKeys.load(userId, lookup.ticket, async () => {
        // From the primary: a lagging replica could put a just-rotated or destroyed key in the shared cache.
        const key = await this.keys.findActive(userId, { from: 'primary' });
        if (!key) throw keyNotFound(userId);
        if (key.destroysAt) throw keyPendingDeletion(userId, key.destroysAt);
        return { keyVersion: key.keyVersion, algorithm: key.algorithm, publishedKey: key.publicKey! };
      }));
    return { keyVersion: current.keyVersion, ...publishedPublicKey(current.algorithm, current.publishedKey) };
  }

  /** Drops the user's cached public key on every replica: after a rotation, a crypto-shred or a re-creation. */
  forgetPublicKey(userId: string): Promise<void> {
    return this.publicKeys.evict(userId);
  }

  /**
   * The private keys of the requested versions, unsealed: from the in-process cache when the
   * sealed key read now (on the primary) is one already unsealed, otherwise one key-provider call
   * per version, shared with the concurrent requests that miss on the same sealed key. Versions
   * the user does not have (or that were purged) are absent from the map. Each key comes with its
   * version's algorithm (an X-Wing seed already expanded). KEY001 when the user has no active key;
   * KEY005 when their keys are pending deletion (read with the sealed keys, on the primary, so no
   * replica unseals one once the DELETE committed).
   */
  async unsealPrivateKeys(userId: string, versions: readonly number[]): Promise<Map<number, PrivateKeyOf>> {
    const rows = await this.keys.sealedKeysOnPrimary(userId, versions);
    if (rows.length === 0) throw keyNotFound(userId);
    if (rows[0].destroysAt) throw keyPendingDeletion(userId, rows[0].destroysAt);
    const wanted = new Set(versions);
    const unsealed = new Map<number, PrivateKeyOf>();
    await Promise.all(
      rows
        .filter((row) => wanted.has(row.keyVersion))
        .map(async ({ keyVersion, algorithm, sealed, provider, keyId }) => {
          const key = await this.privateKeys.get(sealed, async () => {
            const bytes = await this.keyProvider.unseal({ provider, keyId: keyId ?? 'local', ciphertext: sealed }, { userId, keyVersion });
            try {
              return privateKeyOf(algorithm, bytes);
            } finally {
              bytes.fill(0);
            }
          });
          unsealed.set(keyVersion, key);
        }),
    );
    return unsealed;
  }

  /**
   * Generates a key pair of KEY_ALGORITHM and seals its private half for (userId, keyVersion),
   * under the same encryption context whatever the algorithm: an X-Wing key (its 32-byte seed)
   * on the event loop (about 0.1 ms), an RSA key pair off it (libuv's thread pool).
   */
  async prepareKey(userId: string, keyVersion: number): Promise<PreparedKey> {
    const algorithm: KeyAlgorithm = this.config.keys.algorithm;
    let publishedKey: string;
    let privateKey: Buffer;
    if (algorithm === X_WING) {
      const key = generateXWingKey();
      publishedKey = key.publicKeyBase64;
      privateKey = key.seed;
    } else {
      const pair = await generateRsaKeyPair(this.config.keys.rsaBits);
      publishedKey = pair.publicKeyPem;
      privateKey = pair.privateKeyDer;
    }
    const sealed = await this.keyProvider.seal(privateKey, { userId, keyVersion }).finally(() => privateKey.fill(0));
    return { keyVersion, ...publishedPublicKey(algorithm, publishedKey), publishedKey, sealed };
  }

  /**
   * A new random secret of `bytes` bytes (a blind-index key: 256 bits), sealed for `context`.
   * Only the sealed form leaves this method; the plaintext is zeroed.
   */
  async generateSecret(context: SecretContext, bytes = 32): Promise<SealedKey> {
    const secret = randomBytes(bytes);
    return this.keyProvider.seal(secret, context).finally(() => secret.fill(0));
  }

  /**
   * A sealed secret opened as a KeyObject (for HMAC), from the in-process cache when these sealed
   * bytes were opened lately, otherwise by one key-provider call under `context` (shared by
   * concurrent misses).
   */
  unsealSecret(sealed: SealedKey, context: SecretContext): Promise<KeyObject> {
    return this.secrets.get(sealed.ciphertext, async () => {
      const bytes = await this.keyProvider.unseal(sealed, context);
      try {
        return createSecretKey(bytes);
      } finally {
        bytes.fill(0);
      }
    });
  }
}

/** An unsealed private key as the envelope uses it: PKCS#8 DER for RSA, the expanded seed for X-Wing. */
function privateKeyOf(algorithm: KeyAlgorithm, bytes: Buffer): PrivateKeyOf {
  return algorithm === X_WING
    ? { algorithm, privateKey: XWingPrivateKey.fromSeed(bytes) }
    : { algorithm: RSA_OAEP_256, privateKey: createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }) };
}
