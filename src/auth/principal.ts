import { isPermission, Permission } from '../common/permissions';

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
 * Permissions are the token's scope values, with any resource-server prefix ("pii-api/encrypt")
 * stripped, plus its Cognito groups: a group named after a permission grants it, and
 * AUTH_GROUP_PERMISSIONS maps other group names to permissions.
 */
export function permissionsFromClaims(claims: AccessTokenClaims, groupPermissions: Record<string, readonly Permission[]>): Set<Permission> {
  const granted = new Set<Permission>();
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/) : [];
  for (const scope of scopes) {
    const name = scope.slice(scope.lastIndexOf('/') + 1);
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

export function principalFromClaims(
  claims: AccessTokenClaims,
  options: { groupPermissions: Record<string, readonly Permission[]>; userIdClaim?: string },
): Principal {
  const userIdClaim = options.userIdClaim ? claims[options.userIdClaim] : undefined;
  return {
    sub: String(claims.sub),
    clientId: String(claims.client_id),
    username: typeof claims.username === 'string' ? claims.username : undefined,
    tokenId: typeof claims.jti === 'string' ? claims.jti : undefined,
    expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
    permissions: permissionsFromClaims(claims, options.groupPermissions),
    actsForUserId: userIdClaim === undefined || userIdClaim === null ? undefined : String(userIdClaim),
  };
}
