import { Injectable, Logger } from '@nestjs/common';
import { JwksClient } from 'jwks-rsa';
import type { SigningKeySource } from './signing-keys';

/** The key set is refreshed in the background once it is this old; until then no fetch is made for a known kid. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/**
 * At most one JWKS fetch starts in this interval, whatever asks for it: a kid not in the set, the
 * background refresh, or readiness. A flood of forged kids therefore costs one fetch per interval
 * and is refused at once in between; a key the issuer has just added is found within it.
 */
export const JWKS_REFETCH_INTERVAL_MS = 30_000;
/** Time limit of one JWKS fetch. */
const JWKS_FETCH_TIMEOUT_MS = 5_000;

/** The time the JWKS source goes by: a provider of its own, so that the e2e tests can move it. */
@Injectable()
export class JwksClock {
  now(): number {
    return Date.now();
  }
}

export interface JwksSigningKeyOptions {
  clock?: Pick<JwksClock, 'now'>;
  /** Called for every token refused because its kid is not in the key set (metrics). */
  onUnknownKid?: () => void;
  /** Fetches and parses the issuer's JWKS: kid → PEM public key. Default: jwks-rsa from `jwksUri`. */
  fetchKeys?: () => Promise<ReadonlyMap<string, string>>;
}

/**
 * Cognito (or any JWKS). Keeps the last key set it fetched and serves every kid in it at once,
 * however old the set is: a set older than JWKS_MAX_AGE_MS is refreshed in the background, and a
 * failed refresh keeps the set. A kid not in the set makes one fetch if none started within
 * JWKS_REFETCH_INTERVAL_MS (every request asking meanwhile waits for that same fetch), and is
 * otherwise refused at once. A kid the issuer removed is dropped with the next fetched set.
 * jwks-rsa only fetches and parses; the caching and limiting are these few lines.
 */
export class JwksSigningKeySource implements SigningKeySource {
  private readonly logger = new Logger('Jwks');
  private readonly clock: Pick<JwksClock, 'now'>;
  private readonly fetchKeys: () => Promise<ReadonlyMap<string, string>>;
  private keys?: ReadonlyMap<string, string>;
  private fetchedAt = -Infinity;
  private lastAttemptAt = -Infinity;
  private lastError?: string;
  private fetching?: Promise<void>;

  constructor(
    jwksUri: string,
    private readonly options: JwksSigningKeyOptions = {},
  ) {
    this.clock = options.clock ?? new JwksClock();
    if (options.fetchKeys) {
      this.fetchKeys = options.fetchKeys;
    } else {
      const client = new JwksClient({ jwksUri, cache: false, rateLimit: false, timeout: JWKS_FETCH_TIMEOUT_MS });
      this.fetchKeys = async () => new Map((await client.getSigningKeys()).map((key) => [key.kid, key.getPublicKey()]));
    }
  }

  async publicKeyFor(kid: string | undefined): Promise<string> {
    if (!kid) throw new Error('token has no kid');
    const known = this.keys?.get(kid);
    if (known) {
      if (this.isStale()) void this.refresh();
      return known;
    }
    await this.refresh();
    const found = this.keys?.get(kid);
    if (found) return found;
    this.options.onUnknownKid?.();
    throw new Error('unknown signing key');
  }

  /** Readiness: ready while a key set is held (an old one is refreshed in the background); without one, the fetch allowed now. */
  async checkHealth(): Promise<Record<string, unknown>> {
    if (!this.keys) await this.refresh();
    else if (this.isStale()) void this.refresh();
    if (!this.keys) throw new Error(`JWKS not loaded${this.lastError ? `: ${this.lastError}` : ''}`);
    return { source: 'jwks', keys: this.keys.size };
  }

  private isStale(): boolean {
    return this.clock.now() - this.fetchedAt >= JWKS_MAX_AGE_MS;
  }

  /** The fetch under way, or a new one if none started within the interval; otherwise nothing. Never rejects. */
  private refresh(): Promise<void> {
    if (this.fetching) return this.fetching;
    const now = this.clock.now();
    if (now - this.lastAttemptAt < JWKS_REFETCH_INTERVAL_MS) return Promise.resolve();
    this.lastAttemptAt = now;
    this.fetching = this.fetchKeys()
      .then(
        (keys) => {
          this.keys = keys;
          this.fetchedAt = this.clock.now();
          this.lastError = undefined;
        },
        (error: Error) => {
          this.lastError = error.message;
          const held = this.keys ? `keeping the ${this.keys.size} keys held` : 'no keys held';
          this.logger.warn(
            `JWKS fetch failed (${held}; next attempt in ${JWKS_REFETCH_INTERVAL_MS / 1000} s at the earliest): ${error.message}`,
          );
        },
      )
      .finally(() => (this.fetching = undefined));
    return this.fetching;
  }
}
