import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NextFunction, Response } from 'express';
import type { RequestWithId } from '../common/request-id';
import { StartupGate } from './startup-gate.service';

/** Runs the middleware for `url`: 'next' when the request went on, else the status and body it was answered with. */
function through(gate: StartupGate, url: string): { passed: boolean; status?: number; body?: any; retryAfter?: string } {
  const seen: { passed: boolean; status?: number; body?: any; retryAfter?: string } = { passed: false };
  const response = {
    setHeader: (name: string, value: string) => name === 'Retry-After' && (seen.retryAfter = value),
    status(code: number) {
      seen.status = code;
      return this;
    },
    json: (body: unknown) => (seen.body = body),
  } as unknown as Response;
  gate.refuseUntilOpen({ url, requestId: 'r-1' } as RequestWithId, response, (() => (seen.passed = true)) as NextFunction);
  return seen;
}

describe('the start-up gate', () => {
  it('refuses API requests with 503 SYS002 until every held task is released', () => {
    const gate = new StartupGate();
    gate.hold('shredLog', { message: 'replaying' });
    const refused = through(gate, '/api/v1/decrypt');
    assert.equal(refused.passed, false);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, 'SYS002');
    assert.equal(refused.body.requestId, 'r-1');
    assert.match(refused.body.message, /shredLog/);
    assert.ok(refused.retryAfter);
    gate.progress('shredLog', { message: 'failed; retrying' });
    assert.equal(through(gate, '/api/v1/keys/42').passed, false);
    gate.release('shredLog', { replayed: 2 });
    assert.equal(through(gate, '/api/v1/decrypt').passed, true);
    assert.deepEqual(gate.entries(), [['shredLog', { done: true, detail: { replayed: 2 } }]]);
  });

  it('serves probes, metrics and the receipt keys while shut, so readiness can say why', () => {
    const gate = new StartupGate();
    gate.hold('shredLog', { message: 'replaying' });
    for (const url of ['/health/ready', '/health/live', '/metrics', '/.well-known/receipt-keys.json', '/docs-json']) {
      assert.equal(through(gate, url).passed, true, url);
    }
    assert.equal(through(gate, '/metricsx').passed, false);
  });

  it('is open when nothing was held', () => {
    assert.equal(new StartupGate().isOpen, true);
  });
});
