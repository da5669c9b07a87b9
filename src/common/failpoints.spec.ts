import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { loadAppConfig } from '../config/app-config';
import { armFailpoints, failpoint, FailpointError, parseFailpoints } from './failpoints';

describe('failpoints (crash-consistency tests)', () => {
  afterEach(() => armFailpoints(new Map()));

  it('do nothing unless armed', () => {
    assert.doesNotThrow(() => failpoint('destroy.after-commit'));
  });

  it('fail an armed step with a dependency failure (503 SYS002), and only that step', () => {
    armFailpoints(parseFailpoints('destroy.after-commit=fail', []));
    assert.throws(
      () => failpoint('destroy.after-commit'),
      (error: unknown) => error instanceof FailpointError && error.code === 'SYS002' && error.status === 503,
    );
    assert.doesNotThrow(() => failpoint('destroy.after-intent'));
  });

  it('name each entry that is not <name>=fail|kill', () => {
    const problems: string[] = [];
    const parsed = parseFailpoints('rotate.after-commit=kill,nowhere=fail,create.after-keygen=explode', problems);
    assert.deepEqual([...parsed], [['rotate.after-commit', 'kill']]);
    assert.equal(problems.length, 2);
    assert.match(problems[0], /"nowhere=fail"/);
    assert.match(problems[1], /"create.after-keygen=explode"/);
  });

  it('are refused in production', () => {
    assert.throws(
      () => loadAppConfig({ NODE_ENV: 'production', FAILPOINTS: 'rotate.after-commit=fail' }),
      /FAILPOINTS: crash-consistency tests only, refused when NODE_ENV=production/,
    );
  });
});
