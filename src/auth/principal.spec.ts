import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { permissionsFromClaims, principalFromClaims } from './principal';

describe('permissions from token claims', () => {
  it('takes scope values and strips a resource-server prefix', () => {
    const granted = permissionsFromClaims({ scope: 'pii-api/encrypt pii-api/decrypt keys:read' }, {});
    assert.deepEqual([...granted].sort(), ['decrypt', 'encrypt', 'keys:read']);
  });

  it('ignores unknown scopes such as openid and admin', () => {
    assert.equal(permissionsFromClaims({ scope: 'openid profile pii-api/admin' }, {}).size, 0);
  });

  it('adds Cognito groups named after permissions, and groups mapped by configuration', () => {
    const granted = permissionsFromClaims({ 'cognito:groups': ['encrypt', 'auditors', 'unrelated'] }, { auditors: ['audit:read'] });
    assert.deepEqual([...granted].sort(), ['audit:read', 'encrypt']);
  });

  it('ignores malformed scope and groups claims instead of failing open', () => {
    assert.equal(permissionsFromClaims({ scope: ['encrypt'], 'cognito:groups': 'encrypt' }, {}).size, 0);
  });

  it('binds the principal to the configured user-id claim when present', () => {
    const bound = principalFromClaims(
      { sub: 's', client_id: 'c', 'custom:user_id': '42' },
      { groupPermissions: {}, userIdClaim: 'custom:user_id' },
    );
    assert.equal(bound.actsForUserId, '42');
    const unbound = principalFromClaims({ sub: 's', client_id: 'c' }, { groupPermissions: {}, userIdClaim: 'custom:user_id' });
    assert.equal(unbound.actsForUserId, undefined);
  });
});
