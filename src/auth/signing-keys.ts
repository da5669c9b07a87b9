import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sign } from 'jsonwebtoken';
import { randomUUID } from 'node:crypto';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from '../config/app-config';
import { PERMISSIONS } from '../common/permissions';

/** Where the strategy gets the public key that verifies a token, by `kid`. */
export const SIGNING_KEY_SOURCE = Symbol('SIGNING_KEY_SOURCE');

export interface SigningKeySource {
  /** The PEM public key for `kid`; rejects when it is unknown. (The JWKS source: jwks-signing-keys.ts.) */
  publicKeyFor(kid: string | undefined): Promise<string>;
  /** Resolves when signing keys are loaded (readiness). */
  checkHealth(): Promise<Record<string, unknown>>;
}

const SIGNING_KEY_FILE = 'issuer-signing-key.pem';

/**
 * The embedded token issuer (AUTH_MODE=local): an RS256 key kept in DATA_DIR, a JWKS, and
 * `mint` for `npm run token`. Its tokens go through the same strategy as Cognito's.
 */
export class LocalIssuer implements SigningKeySource {
  readonly kid: string;
  private readonly publicKey: KeyObject;

  private constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    this.kid = jwkThumbprint(this.publicKey.export({ format: 'jwk' }));
  }

  static async open(dataDir: string): Promise<LocalIssuer> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, SIGNING_KEY_FILE);
    const pem = await readFile(path, 'utf8').catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const created = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      await writeFile(path, created, { flag: 'wx', mode: 0o600 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      return readFile(path, 'utf8');
    });
    await chmod(path, 0o600);
    return new LocalIssuer(createPrivateKey(pem));
  }

  async publicKeyFor(kid: string | undefined): Promise<string> {
    if (kid !== this.kid) throw new Error('unknown signing key');
    return this.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  }

  async checkHealth(): Promise<Record<string, unknown>> {
    return { source: 'local-issuer', keys: 1 };
  }

  jwks(): { keys: (webcrypto.JsonWebKey & { kid: string; use: string })[] } {
    return { keys: [{ ...this.publicKey.export({ format: 'jwk' }), kid: this.kid, alg: 'RS256', use: 'sig' }] };
  }

  /** A client-credentials-style access token with every permission, valid for `ttlSeconds`. */
  mint(ttlSeconds = 3600, extraClaims: Record<string, unknown> = {}): string {
    return sign(
      {
        sub: 'local-developer',
        client_id: LOCAL_CLIENT_ID,
        token_use: 'access',
        scope: PERMISSIONS.join(' '),
        jti: randomUUID(),
        ...extraClaims,
      },
      this.privateKey,
      { algorithm: 'RS256', keyid: this.kid, issuer: LOCAL_ISSUER, expiresIn: ttlSeconds },
    );
  }
}

/** RFC 7638 JWK thumbprint of an RSA public key. */
function jwkThumbprint(jwk: webcrypto.JsonWebKey): string {
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}
