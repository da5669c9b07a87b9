import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { CompactSign, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { createPrivateKey, generateKeyPair, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { KEY_PROVIDER, KeyProvider, SealContext } from '../key-provider/key-provider';
import { NewReceiptKey, ReceiptKeyRepository, ReceiptKeyRow } from '../repositories/receipt-key.repository';

/** The JWS `alg` of every receipt (Ed25519). */
export const RECEIPT_ALG = 'EdDSA';
/** The JWS `typ` of a crypto-shred receipt. */
export const RECEIPT_TYPE = 'crypto-shred-receipt+jws';

/** A published receipt-signing public key. */
export type ReceiptJwk = JWK & { kid: string; alg: typeof RECEIPT_ALG; use: 'sig' };

/**
 * The sealing context of a receipt-signing key: its own name space, apart from users' keys
 * (user ids are decimal), so a sealed user key can never be unsealed as a signing key or back.
 */
export const sealContext = (kid: string): SealContext => ({ userId: `receipt-signing:${kid}`, keyVersion: 1 });

/**
 * Signs crypto-shred receipts with the service's own Ed25519 key pair. The private half is sealed
 * by the key provider (KMS in production) like users' keys; every replica signs with the one
 * current key in the database. The first replica to start creates it (the others' inserts lose
 * the race and they read the winner's); `rotate()` (npm run receipt-key:rotate) makes a new one
 * current and keeps the old public keys published, so older receipts still verify.
 */
@Injectable()
export class ReceiptSigner implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReceiptSigner');
  /** The unsealed current key, by kid: unsealed once per process and key. */
  private unsealed?: { kid: string; key: KeyObject };

  constructor(
    private readonly keys: ReceiptKeyRepository,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (await this.keys.currentOnPrimary()) return;
    if (await this.keys.insertIfNoCurrent(await this.newKey())) this.logger.log('Created the receipt-signing key');
  }

  /**
   * A compact JWS (EdDSA) over `payload` as given, signed by the current key. Ed25519 signatures
   * are deterministic: the same payload and key always give the same receipt. `typ` tells what
   * is signed: a receipt (the default), or another document signed by the same key, such as the
   * audit trail's checkpoint digests (`audit-checkpoint+jws`), which is never taken for a receipt.
   */
  async sign(payload: Record<string, unknown>, typ: string = RECEIPT_TYPE): Promise<string> {
    return (await this.prepare(typ))(payload);
  }

  /**
   * Looks up (and unseals) the current key now, and returns a signer that uses it without the
   * database or the key provider: for signing inside a database transaction.
   */
  async prepare(typ: string = RECEIPT_TYPE): Promise<(payload: Record<string, unknown>) => Promise<string>> {
    const { kid, key } = await this.currentKey();
    return (payload) =>
      new CompactSign(Buffer.from(JSON.stringify(payload), 'utf8')).setProtectedHeader({ alg: RECEIPT_ALG, typ, kid }).sign(key);
  }

  /** Every receipt-signing public key, current first, as a JWKS. */
  async jwks(): Promise<{ keys: ReceiptJwk[] }> {
    const rows = await this.keys.allOnPrimary();
    return { keys: rows.map((row) => ({ ...row.publicJwk, kid: row.kid, alg: RECEIPT_ALG, use: 'sig' }) as ReceiptJwk) };
  }

  /** Makes a new key pair current; the old public keys stay published. Returns the new key's kid. */
  async rotate(): Promise<string> {
    const key = await this.newKey();
    await this.keys.rotate(key);
    this.logger.log(`Receipt-signing key rotated: ${key.kid} is current`);
    return key.kid;
  }

  /** The payload of a receipt this service signed (for answering a repeated DELETE); no check of the signature. */
  static payloadOf(receipt: string): Record<string, unknown> {
    return JSON.parse(Buffer.from(receipt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
  }

  private async currentKey(): Promise<{ kid: string; key: KeyObject }> {
    const row = await this.keys.currentOnPrimary();
    if (!row) throw new Error('No receipt-signing key: the service creates one when it starts');
    if (this.unsealed?.kid !== row.kid) this.unsealed = { kid: row.kid, key: await this.unseal(row) };
    return this.unsealed;
  }

  private async unseal(row: ReceiptKeyRow): Promise<KeyObject> {
    const der = await this.keyProvider.unseal(
      { provider: row.provider, keyId: row.keyId ?? 'local', ciphertext: row.sealed },
      sealContext(row.kid),
    );
    try {
      return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  }

  private async newKey(): Promise<NewReceiptKey> {
    const { publicKey, privateKey } = await promisify(generateKeyPair)('ed25519');
    const publicJwk = await exportJWK(publicKey);
    // The kid is the RFC 7638 thumbprint: anyone can recompute it from the published key.
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    try {
      const sealed = await this.keyProvider.seal(der, sealContext(kid));
      return {
        kid,
        publicJwk: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x },
        sealed: sealed.ciphertext,
        provider: sealed.provider,
        keyId: sealed.keyId,
      };
    } finally {
      der.fill(0);
    }
  }
}
