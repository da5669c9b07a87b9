import { Injectable } from '@nestjs/common';
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { VERIFIED_TOKENS_MAX } from '../common/limits';
import type { Principal } from './principal';

/** A token that passed verification, and its caller's rate-limit key (computed once per token). */
export interface VerifiedToken {
  principal: Principal;
  rateKey: string;
}

/**
 * Access tokens this process has verified (signature, issuer, expiry, claims), so that each is
 * parsed and its RSA signature checked once rather than on every request. Bounded
 * (VERIFIED_TOKENS_MAX, least recently used out first); keyed by a SHA-256 digest of the token,
 * so no token is kept as a key; each entry lives no longer than its token's `exp` (a token without
 * `exp` is not remembered). Revocation is not cached: the token guard checks it on every request.
 */
@Injectable()
export class VerifiedTokens {
  private readonly cache = new LRUCache<string, VerifiedToken>({ max: VERIFIED_TOKENS_MAX });

  get(token: string): VerifiedToken | undefined {
    return this.cache.get(digest(token));
  }

  remember(token: string, verified: VerifiedToken): void {
    const expiresAt = verified.principal.expiresAt;
    if (typeof expiresAt !== 'number') return;
    const ttl = Math.floor(expiresAt * 1000 - Date.now());
    if (ttl > 0) this.cache.set(digest(token), verified, { ttl });
  }
}

const digest = (token: string) => hash('sha256', token, 'base64url');

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^bearer +(\S+)$/i.exec(header);
  return match?.[1];
}
