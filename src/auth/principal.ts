import { ApiError } from '../common/api-error';
import { isPermission, Permission } from '../common/permissions';
import { isUserId, USER_ID_DESCRIPTION } from '../common/user-id';

/** The authenticated caller, derived from a verified access token. */
export interface Principal {
  sub: string;
  clientId: string;
  username?: string;
  tokenId?: string;
  expiresAt?: number;
  permissions: ReadonlySet<Permission>;
  /** Set when the token carries AUTH_USER_ID_CLAIM: the only userId it may act on. */
  actsForUserId?: string;
}

export interface AccessTokenClaims {
  sub?: unknown;
  client_id?: unknown;
  username?: unknown;
  jti?: unknown;
  exp?: unknown;
  scope?: unknown;
  'cognito:groups'?: unknown;
  [claim: string]: unknown;
}

/**
 * Permissions are the token's scope values that carry `scopePrefix` (AUTH_SCOPE_PREFIX, e.g.
 * "pii-api/encrypt"; another resource server's "other-api/encrypt" grants nothing here; the local
 * issuer's bare names have the prefix ""), plus its Cognito groups: a group named after a
 * permission grants it, and AUTH_GROUP_PERMISSIONS maps other group names to permissions.
 */
export function permissionsFromClaims(
  claims: AccessTokenClaims,
  groupPermissions: Record<string, readonly Permission[]>,
  scopePrefix: string,
): Set<Permission> {
  const granted = new Set<Permission>();
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/) : [];
  for (const scope of scopes) {
    if (!scope.startsWith(scopePrefix)) continue;
    const name = scope.slice(scopePrefix.length);
    if (isPermission(name)) granted.add(name);
  }
  const groups = Array.isArray(claims['cognito:groups']) ? claims['cognito:groups'] : [];
  for (const group of groups) {
    if (typeof group !== 'string') continue;
    if (isPermission(group)) granted.add(group);
    for (const permission of groupPermissions[group] ?? []) granted.add(permission);
  }
  return granted;
}

export interface PrincipalOptions {
  groupPermissions: Record<string, readonly Permission[]>;
  scopePrefix: string;
  userIdClaim?: string;
  /** AUTH_BOUND_CLIENT_IDS: these clients' tokens must carry userIdClaim. */
  boundClientIds?: readonly string[];
}

/** The principal of verified claims; throws AUTH001 for a binding claim that is not one user id, or missing where required. */
export function principalFromClaims(claims: AccessTokenClaims, options: PrincipalOptions): Principal {
  const clientId = String(claims.client_id);
  const claim = options.userIdClaim ? claims[options.userIdClaim] : undefined;
  const bound = claim === undefined || claim === null ? undefined : claim;
  if (bound !== undefined && !isUserId(bound)) {
    throw new ApiError('AUTH001', `Token's ${options.userIdClaim} claim must be one user id (${USER_ID_DESCRIPTION})`);
  }
  if (bound === undefined && options.boundClientIds?.includes(clientId)) {
    throw new ApiError('AUTH001', `Tokens of client ${clientId} must be bound to one person (claim ${options.userIdClaim})`);
  }
  return {
    sub: String(claims.sub),
    clientId,
    username: typeof claims.username === 'string' ? claims.username : undefined,
    tokenId: typeof claims.jti === 'string' ? claims.jti : undefined,
    expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
    permissions: permissionsFromClaims(claims, options.groupPermissions, options.scopePrefix),
    actsForUserId: bound,
  };
}
