import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { decode, verify } from 'jsonwebtoken';
import { dependencyUnavailable, invalidInput } from '../../common/api-error';
import { MAX_ACCESS_TOKEN_LIFETIME_SECONDS } from '../../common/limits';
import { AppConfig } from '../../config/app-config';
import { RedisConnection } from '../../redis/redis-connection';
import { RevokedTokenRepository } from '../../repositories/revoked-token.repository';
import { SIGNING_KEY_SOURCE, SigningKeySource } from '../signing-keys';

/**
 * The token denylist. Every revocation is stored in the database (`revoked_tokens`, always read
 * on the primary, never a lagging read replica), so every replica of the service sees it at
 * once; with REDIS_URL it is copied into Redis, which then answers the per-request check (in
 * the request's one Redis round trip, with the rate limit: JwtAuthGuard). A
 * replica trusts Redis's "not revoked" only while its copy is known complete: after any Redis
 * failure it checks the database and copies the list back into Redis before trusting it again,
 * and every replica copies it whenever its Redis connection is (re)established, so a revocation
 * made while Redis was down or restarted empty is never forgotten. In a Redis cluster the entries
 * share the key epoch's slot (RedisConnection.sharedKey), so the request's round trip reads them
 * together and the copy is one MULTI.
 */
@Injectable()
export class TokenRevocations implements OnModuleInit {
  private readonly logger = new Logger(TokenRevocations.name);
  private redisComplete = false;
  /** Bumped by every Redis failure, so that a copy overtaken by one does not count as complete. */
  private failures = 0;
  private copying?: Promise<void>;
  private copyTimer?: NodeJS.Timeout;

  constructor(
    private readonly revoked: RevokedTokenRepository,
    private readonly redis: RedisConnection,
    private readonly config: AppConfig,
    @Inject(SIGNING_KEY_SOURCE) private readonly signingKeys: SigningKeySource,
  ) {
    redis.onReady(() => void this.copyToRedis());
  }

  onModuleInit(): void {
    void this.copyToRedis();
  }

  /** Lists `tokenId` until `expiresAt`; a token that has already expired needs nothing. */
  async revoke(tokenId: string, expiresAt: Date, revokedBy: string): Promise<void> {
    if (expiresAt.getTime() <= Date.now()) return;
    await this.revoked.add(tokenId, expiresAt, revokedBy);
    if (this.redis.isConfigured) {
      await this.redis
        .execute((client) => client.set(this.redisKey(tokenId), '1', { expiration: { type: 'PXAT', value: expiresAt.getTime() } }))
        .catch(() => this.distrustRedis());
    }
  }

  /** Lists the token id for Cognito's longest access-token lifetime: its real expiry is unknown. */
  revokeId(tokenId: string, revokedBy: string): Promise<Date> {
    const expiresAt = new Date(Date.now() + MAX_ACCESS_TOKEN_LIFETIME_SECONDS * 1000);
    return this.revoke(tokenId, expiresAt, revokedBy).then(() => expiresAt);
  }

  /**
   * Lists a whole token, after checking that it is one this service would accept (signature,
   * issuer): an unverified token's `jti` and `exp` could be anything. Expired tokens are fine.
   */
  async revokeToken(token: string, revokedBy: string): Promise<Date> {
    const claims = await this.verifiedClaims(token);
    if (typeof claims.jti !== 'string' || !claims.jti) throw invalidInput('token has no jti claim and cannot be revoked');
    if (typeof claims.exp !== 'number') throw invalidInput('token has no exp claim');
    const expiresAt = new Date(claims.exp * 1000);
    await this.revoke(claims.jti, expiresAt, revokedBy);
    return expiresAt;
  }

  /**
   * The Redis key that lists `tokenId`, for the request's one Redis round trip (the rate
   * limiter's script checks it) — only while Redis's copy of the denylist is known complete;
   * otherwise undefined, and `isRevoked` asks the database.
   */
  redisEntry(tokenId: string): string | undefined {
    return this.redisComplete ? this.redisKey(tokenId) : undefined;
  }

  /** SYS002 when neither Redis nor the database can answer: a revoked token must not slip through. */
  async isRevoked(tokenId: string): Promise<boolean> {
    if (this.redisComplete) {
      try {
        return (await this.redis.execute((client) => client.exists(this.redisKey(tokenId)))) === 1;
      } catch {
        this.distrustRedis();
      }
    }
    try {
      return await this.revoked.isListedOnPrimary(tokenId);
    } catch (error) {
      throw dependencyUnavailable('The token denylist', error);
    }
  }

  /** Redis failed to answer: its copy is not trusted again until it has been copied anew. */
  distrustRedis(): void {
    this.redisComplete = false;
    this.failures += 1;
    this.copyLater();
  }

  /** Retried until it succeeds; a reconnect of the client also triggers it at once. */
  private copyLater(): void {
    if (this.copyTimer) return;
    this.copyTimer = setTimeout(() => {
      this.copyTimer = undefined;
      void this.copyToRedis();
    }, this.config.circuitBreakerResetMs);
    this.copyTimer.unref();
  }

  /** Copies the unexpired denylist into Redis; afterwards Redis's answers are trusted again. */
  private copyToRedis(): Promise<void> {
    // Disconnected: the 'ready' event of the reconnect calls again.
    if (!this.redis.isReady) return Promise.resolve();
    this.copying ??= (async () => {
      const failuresBefore = this.failures;
      try {
        const entries = await this.revoked.unexpiredOnPrimary();
        await this.redis.execute(async (client) => {
          const batch = client.multi();
          for (const entry of entries) {
            batch.set(this.redisKey(entry.tokenId), '1', { expiration: { type: 'PXAT', value: entry.expiresAt.getTime() } });
          }
          await batch.exec();
        });
        if (this.failures === failuresBefore) this.redisComplete = true;
        else this.copyLater();
      } catch (error) {
        this.logger.warn(`token denylist not copied to Redis yet (${(error as Error).name}); checking the database meanwhile`);
        this.copyLater();
      } finally {
        this.copying = undefined;
      }
    })();
    return this.copying;
  }

  private redisKey(tokenId: string): string {
    return this.redis.sharedKey(`revoked-token:${tokenId}`);
  }

  private async verifiedClaims(token: string): Promise<{ jti?: unknown; exp?: unknown }> {
    const header = decode(token, { complete: true })?.header;
    if (!header || header.alg !== 'RS256') throw invalidInput('token is not an RS256 JWT');
    const key = await this.signingKeys.publicKeyFor(header.kid).catch(() => {
      throw invalidInput('token is signed by a key this service does not trust');
    });
    try {
      return verify(token, key, { algorithms: ['RS256'], issuer: this.config.auth.issuer, ignoreExpiration: true }) as {
        jti?: unknown;
        exp?: unknown;
      };
    } catch {
      throw invalidInput('token is not a valid token of the trusted issuer');
    }
  }
}
