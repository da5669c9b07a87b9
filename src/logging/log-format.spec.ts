import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logFormat } from './log-format';

const development = { logFormat: undefined, isProduction: false, logFile: undefined };

describe('log format', () => {
  it('is pretty for a person at a terminal outside production', () => {
    assert.equal(logFormat(development, true), 'pretty');
  });

  it('is JSON when stdout is not a terminal (containers, pipes, log collectors)', () => {
    assert.equal(logFormat(development, false), 'json');
  });

  it('is JSON in production even at a terminal', () => {
    assert.equal(logFormat({ ...development, isProduction: true }, true), 'json');
  });

  it('is JSON into LOG_FILE', () => {
    assert.equal(logFormat({ ...development, logFile: '/tmp/service.log' }, true), 'json');
  });

  it('follows LOG_FORMAT either way', () => {
    assert.equal(logFormat({ ...development, logFormat: 'json' }, true), 'json');
    assert.equal(logFormat({ ...development, isProduction: true, logFormat: 'pretty' }, false), 'pretty');
  });
});
