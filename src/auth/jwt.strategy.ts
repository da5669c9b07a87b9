import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { decode } from 'jsonwebtoken';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { ApiError } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { publicKeyObject } from '../envelope/public-key-objects';
import { AccessTokenClaims, Principal, principalFromClaims } from './principal';
import { SIGNING_KEY_SOURCE, SigningKeySource } from './signing-keys';

/** Clock skew allowed on exp and nbf. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Verifies Cognito access tokens (and the local issuer's, through the same path): RS256 only,
 * signature against the pool's JWKS, `iss`, `exp` (required)/`nbf`, `token_use` = access, and `client_id`
 * among COGNITO_CLIENT_IDS. JwtAuthGuard runs it once per token (VerifiedTokens remembers the
 * result until the token expires).
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    private readonly config: AppConfig,
    @Inject(SIGNING_KEY_SOURCE) signingKeys: SigningKeySource,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      algorithms: ['RS256'],
      issuer: config.auth.issuer,
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: CLOCK_TOLERANCE_SECONDS },
      // jsonwebtoken takes a KeyObject as well as a PEM; passport-jwt's typing knows only the PEM.
      secretOrKeyProvider: (_request: unknown, rawToken: string, done: (err: unknown, key?: string) => void) => {
        const header = decode(rawToken, { complete: true })?.header;
        if (header?.alg !== 'RS256') return done(new ApiError('AUTH001', 'Token must be signed with RS256'));
        signingKeys
          .publicKeyFor(header.kid)
          .then(publicKeyObject)
          .then(
            (key) => done(null, key as unknown as string),
            () => done(new ApiError('AUTH001', 'Token is signed by an unknown key')),
          );
      },
    });
  }

  /** The principal of a verified token; JwtAuthGuard then checks the denylist on every request. */
  validate(claims: AccessTokenClaims): Principal {
    // jsonwebtoken checks `exp` only when the token has one: a token that never expires is refused here.
    if (typeof claims.exp !== 'number') throw new ApiError('AUTH001', 'Token has no expiry');
    if (claims.token_use !== 'access') throw new ApiError('AUTH001', 'An access token is required');
    if (typeof claims.client_id !== 'string' || !this.config.auth.clientIds.includes(claims.client_id)) {
      throw new ApiError('AUTH001', 'Token was issued to a client this service does not trust');
    }
    if (typeof claims.sub !== 'string' || !claims.sub) throw new ApiError('AUTH001', 'Token has no subject');
    const { groupPermissions, scopePrefix, userIdClaim, boundClientIds } = this.config.auth;
    return principalFromClaims(claims, { groupPermissions, scopePrefix, userIdClaim, boundClientIds });
  }
}
