import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../common/api-error';
import { permissionsFromClaims, principalFromClaims } from './principal';

const OPTIONS = { groupPermissions: {}, scopePrefix: 'pii-api/', userIdClaim: 'custom:user_id' };

describe('permissions from token claims', () => {
  it('takes only scopes of this service’s resource server (AUTH_SCOPE_PREFIX)', () => {
    const granted = permissionsFromClaims({ scope: 'pii-api/encrypt pii-api/decrypt keys:read' }, {}, 'pii-api/');
    assert.deepEqual([...granted].sort(), ['decrypt', 'encrypt']);
  });

  it('grants nothing for another resource server’s scope of the same name (other-api/decrypt)', () => {
    assert.equal(permissionsFromClaims({ scope: 'other-api/decrypt other-api/keys:delete pii-api-x/encrypt' }, {}, 'pii-api/').size, 0);
  });

  it('takes bare names from the local issuer (empty prefix) and nothing with a slash', () => {
    const granted = permissionsFromClaims({ scope: 'encrypt other-api/decrypt' }, {}, '');
    assert.deepEqual([...granted], ['encrypt']);
  });

  it('ignores unknown scopes such as openid and admin', () => {
    assert.equal(permissionsFromClaims({ scope: 'openid profile pii-api/admin' }, {}, 'pii-api/').size, 0);
  });

  it('adds Cognito groups named after permissions, and groups mapped by configuration', () => {
    const granted = permissionsFromClaims(
      { 'cognito:groups': ['encrypt', 'auditors', 'unrelated'] },
      { auditors: ['audit:read'] },
      'pii-api/',
    );
    assert.deepEqual([...granted].sort(), ['audit:read', 'encrypt']);
  });

  it('ignores malformed scope and groups claims instead of failing open', () => {
    assert.equal(permissionsFromClaims({ scope: ['encrypt'], 'cognito:groups': 'encrypt' }, {}, '').size, 0);
  });
});

describe('the person a token is bound to', () => {
  it('binds the principal to the configured user-id claim when present', () => {
    assert.equal(principalFromClaims({ sub: 's', client_id: 'c', 'custom:user_id': '42' }, OPTIONS).actsForUserId, '42');
    assert.equal(principalFromClaims({ sub: 's', client_id: 'c' }, OPTIONS).actsForUserId, undefined);
  });

  it('refuses a binding claim that is not one user id (a list, a number, leading zeros) with AUTH001', () => {
    for (const claim of [['42', '43'], 42, '042', '', '*']) {
      assert.throws(
        () => principalFromClaims({ sub: 's', client_id: 'c', 'custom:user_id': claim }, OPTIONS),
        (error: unknown) => error instanceof ApiError && error.code === 'AUTH001',
        `claim ${JSON.stringify(claim)}`,
      );
    }
  });

  it('refuses an unbound token of a client listed in AUTH_BOUND_CLIENT_IDS, and accepts it bound', () => {
    const options = { ...OPTIONS, boundClientIds: ['person-app'] };
    assert.throws(
      () => principalFromClaims({ sub: 's', client_id: 'person-app' }, options),
      (error: unknown) => error instanceof ApiError && error.code === 'AUTH001' && /bound to one person/.test(error.message),
    );
    assert.equal(principalFromClaims({ sub: 's', client_id: 'person-app', 'custom:user_id': '7' }, options).actsForUserId, '7');
    assert.equal(principalFromClaims({ sub: 's', client_id: 'backend' }, options).actsForUserId, undefined);
  });
});
