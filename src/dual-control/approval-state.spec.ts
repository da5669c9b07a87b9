import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { approvalState } from './approval-state';

const NOW = new Date('2026-11-25T10:00:00Z');
const LATER = new Date('2026-11-26T10:00:00Z');
const request = (approvers: string[], overrides: Partial<{ usedAt: Date | null; expiresAt: Date }> = {}) => ({
  requestedBy: 'alice',
  expiresAt: LATER,
  usedAt: null,
  approvers,
  ...overrides,
});

describe('approvalState (the two-person rule)', () => {
  it('is pending until someone other than the requester approves', () => {
    assert.deepEqual(approvalState(request([]), NOW), { state: 'pending', counted: [] });
    assert.deepEqual(approvalState(request(['alice']), NOW), { state: 'pending', counted: [] });
  });

  it('is approved by a second identity, counted once however often it approves', () => {
    assert.deepEqual(approvalState(request(['bob']), NOW), { state: 'approved', counted: ['bob'] });
    assert.deepEqual(approvalState(request(['bob', 'alice', 'bob']), NOW), { state: 'approved', counted: ['bob'] });
  });

  it('is expired at its expiry when unused, whatever its approvals', () => {
    assert.equal(approvalState(request(['bob'], { expiresAt: NOW }), NOW).state, 'expired');
  });

  it('is used once its action ran, even past its expiry', () => {
    assert.equal(approvalState(request(['bob'], { usedAt: NOW, expiresAt: NOW }), LATER).state, 'used');
  });
});
