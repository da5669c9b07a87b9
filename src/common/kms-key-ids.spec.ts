import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { multiRegionKeyId, multiRegionKeyIn, sameKeyPattern, sameMultiRegionKey } from './kms-key-ids';

const primary = 'arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const replica = 'arn:aws:kms:ca-central-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const single = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** PostgreSQL's LIKE with backslash escapes, for checking the patterns without a database. */
function like(text: string, pattern: string): boolean {
  const literal = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') regex += literal(pattern[++i]);
    else if (c === '%') regex += '.*';
    else if (c === '_') regex += '.';
    else regex += literal(c);
  }
  return new RegExp(`^${regex}$`, 's').test(text);
}

describe('KMS key ids', () => {
  it('knows a multi-region key by its id in any region, and a single-region key only by itself', () => {
    assert.equal(multiRegionKeyId(primary), 'mrk-1234abcd12ab34cd56ef1234567890ab');
    assert.equal(multiRegionKeyId(single), undefined);
    assert.equal(multiRegionKeyId('alias/pii'), undefined);
    assert.ok(sameMultiRegionKey(primary, replica));
    assert.ok(!sameMultiRegionKey(primary, single));
    assert.ok(!sameMultiRegionKey(primary, primary.replace('123456789012', '210987654321')), 'another account is another key');
  });

  it('names the replica of a multi-region key in another region, and no other key', () => {
    assert.equal(multiRegionKeyIn(primary, 'ca-central-1'), replica);
    assert.equal(multiRegionKeyIn(replica, 'us-east-1'), primary);
    assert.equal(multiRegionKeyIn(primary, 'us-east-1'), primary);
    assert.equal(multiRegionKeyIn(single, 'ca-central-1'), undefined, 'a single-region key has no replica');
    assert.equal(multiRegionKeyIn('alias/pii', 'ca-central-1'), undefined);
  });

  it('matches the replicas of a multi-region key in every region, and nothing else', () => {
    const pattern = sameKeyPattern(replica);
    assert.ok(like(primary, pattern));
    assert.ok(like(replica, pattern));
    assert.ok(!like(single, pattern));
    assert.ok(!like(primary.replace('mrk-1234', 'mrk-9999'), pattern));
  });

  it('matches a single-region key or a local master key id exactly, wildcards in it taken literally', () => {
    assert.ok(like(single, sameKeyPattern(single)));
    assert.ok(!like(single.replace('us-east-1', 'us-west-2'), sameKeyPattern(single)));
    assert.ok(like('local:0123456789abcdef', sameKeyPattern('local:0123456789abcdef')));
    assert.ok(!like('localX0123', sameKeyPattern('local_0123')));
    assert.ok(like('local_0123', sameKeyPattern('local_0123')));
  });
});
