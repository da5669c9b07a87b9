/** Permission names (README, permissions table): the token's scopes and Cognito groups grant them. */
export const PERMISSIONS = [
  'keys:write',
  'keys:read',
  'keys:delete',
  'keys:restore',
  'encrypt',
  'decrypt',
  'rotate',
  'audit:read',
  'tokens:revoke',
  'grants:write',
  'grants:approve',
  'translate',
  'indexes:admin',
  'index',
  'canaries:write',
  'decrypt:break-glass',
  'keys:admin',
  'approvals:approve',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
