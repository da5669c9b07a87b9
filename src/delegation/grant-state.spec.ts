import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyGrant } from '../repositories/entities/key-grant.entity';
import { grantState } from './grant-state';

const now = new Date('2026-11-25T12:00:00Z');
const grant = (overrides: Partial<KeyGrant> = {}, approvers: string[] = []): KeyGrant =>
  Object.assign(new KeyGrant(), {
    createdBy: 'creator',
    notBefore: null,
    expiresAt: null,
    revokedAt: null,
    approvals: approvers.map((approver) => ({ approver, approvedAt: now })),
    ...overrides,
  });

describe('grant state', () => {
  it('is pending until two callers other than the creator approve', () => {
    assert.deepEqual(grantState(grant({}, ['a']), 2, now), { state: 'pending', countedApprovals: 1 });
    assert.deepEqual(grantState(grant({}, ['creator', 'a']), 2, now), { state: 'pending', countedApprovals: 1 });
    assert.equal(grantState(grant({}, ['a', 'b']), 2, now).state, 'active');
  });

  it('waits for notBefore, and ends at expiresAt or revocation', () => {
    const approved = ['a', 'b'];
    assert.equal(grantState(grant({ notBefore: new Date('2026-11-26T00:00:00Z') }, approved), 2, now).state, 'scheduled');
    assert.equal(grantState(grant({ expiresAt: new Date('2026-11-25T11:59:59Z') }, approved), 2, now).state, 'expired');
    assert.equal(grantState(grant({ revokedAt: new Date('2026-11-25T10:00:00Z') }, approved), 2, now).state, 'revoked');
  });

  it('honours another number of required approvals', () => {
    assert.equal(grantState(grant({}, ['a']), 1, now).state, 'active');
    assert.equal(grantState(grant({}, ['a', 'b']), 3, now).state, 'pending');
  });
});
