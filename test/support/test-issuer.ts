import { createHash, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { sign, SignOptions } from 'jsonwebtoken';

/**
 * A token issuer of the tests' own: an RS256 key whose JWKS it serves on loopback. Used where
 * moto's Cognito cannot help (scopes, a user-id claim, forged tokens), through the service's
 * normal Cognito validation path (COGNITO_ISSUER and COGNITO_JWKS_URI point here).
 */
export class TestIssuer {
  /** The current signing key: token() signs with it. */
  privateKey: KeyObject;
  publicKey: KeyObject;
  kid: string;
  /** The public keys the JWKS publishes (the current one and any kept by rotate()). */
  private published: KeyObject[];
  private server?: Server;
  jwksUri = '';
  /** Requests the JWKS endpoint has received. */
  jwksFetches = 0;
  /** While false, the JWKS endpoint answers 503. */
  jwksAvailable = true;
  readonly issuer = 'https://cognito-idp.ca-central-1.amazonaws.com/ca-central-1_TestPool1';
  readonly clientId = 'test-backend-client';

  constructor() {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.kid = kidOf(this.publicKey);
    this.published = [this.publicKey];
  }

  async start(): Promise<this> {
    this.server = createServer((_, response) => {
      this.jwksFetches++;
      if (!this.jwksAvailable) {
        response.statusCode = 503;
        response.end();
        return;
      }
      const keys = this.published.map((key) => ({ ...key.export({ format: 'jwk' }), kid: kidOf(key), alg: 'RS256', use: 'sig' }));
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.jwksUri = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/.well-known/jwks.json`;
    return this;
  }

  /** Key rotation at the issuer: a new key signs from now on and is published; the old one stays published unless `dropOld`. */
  rotate({ dropOld = false } = {}): void {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.kid = kidOf(this.publicKey);
    this.published = dropOld ? [this.publicKey] : [...this.published, this.publicKey];
  }

  /** Environment that makes the service trust this issuer as its Cognito pool. */
  env(): Record<string, string> {
    return { AUTH_MODE: 'cognito', COGNITO_ISSUER: this.issuer, COGNITO_JWKS_URI: this.jwksUri, COGNITO_CLIENT_IDS: this.clientId };
  }

  /** A Cognito-shaped access token; `claims` and `options` override any part of it. */
  token(claims: Record<string, unknown> = {}, options: SignOptions = {}, key: KeyObject = this.privateKey): string {
    return sign(
      {
        sub: 'svc-test',
        client_id: this.clientId,
        token_use: 'access',
        scope: 'pii-api/keys:write pii-api/encrypt',
        jti: randomUUID(),
        ...claims,
      },
      key,
      { algorithm: 'RS256', keyid: this.kid, issuer: this.issuer, ...(claims.exp === undefined ? { expiresIn: 300 } : {}), ...options },
    );
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** The kid the issuer gives a public key: a digest of it. */
function kidOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url')
    .slice(0, 16);
}
