import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ApiError } from './api-error';
import { CIRCUIT_BREAKER_FAILURES } from './limits';
import { DependencyPolicy, isCircuitOpen, isTimeout } from './dependency-policy';
import { MetricsService } from '../metrics/metrics.service';

class Transient extends Error {}
class Permanent extends Error {}

const policy = (overrides: Partial<ConstructorParameters<typeof DependencyPolicy>[0]> = {}) => {
  const metrics = new MetricsService();
  return {
    metrics,
    policy: new DependencyPolicy({
      name: 'dep',
      label: 'The dependency',
      attemptTimeoutMs: 1000,
      breakerResetMs: 60_000,
      isDependencyFailure: (error) => error instanceof Transient,
      metrics,
      ...overrides,
    }),
  };
};

/** 503 SYS002 naming the dependency, the failure behind it kept as its cause (for logs). */
const unavailableBecause = (cause: new () => Error) => (error: unknown) =>
  error instanceof ApiError &&
  error.code === 'SYS002' &&
  error.status === 503 &&
  error.message === 'The dependency is unavailable; try again later' &&
  error.cause instanceof cause;

describe('dependency policy', () => {
  it('says Retry-After only for a dependency called before anything is written: its seconds, or the breaker reset while open', async () => {
    const fail = async () => {
      throw new Transient();
    };
    const retryAfterOf = async (call: Promise<unknown>) => {
      const error = await call.then(
        () => undefined,
        (refusal: unknown) => refusal,
      );
      assert.ok(error instanceof ApiError && error.code === 'SYS002');
      return error.headers['Retry-After'];
    };
    assert.equal(await retryAfterOf(policy().policy.execute(fail)), undefined);
    const { policy: beforeWrites } = policy({ retryAfterSeconds: 1, breakerResetMs: 10_000 });
    assert.equal(await retryAfterOf(beforeWrites.execute(fail)), '1');
    for (let i = 1; i < CIRCUIT_BREAKER_FAILURES; i++) await beforeWrites.execute(fail).catch(() => undefined);
    assert.equal(await retryAfterOf(beforeWrites.execute(fail)), '10');
  });

  it('answers a dependency failure with 503 SYS002 and passes a caller mistake through unchanged', async () => {
    const { policy: plain } = policy();
    await assert.rejects(
      plain.execute(async () => {
        throw new Transient();
      }),
      unavailableBecause(Transient),
    );
    await assert.rejects(
      plain.execute(async () => {
        throw new Permanent();
      }),
      Permanent,
    );
    const refusal = new ApiError('ENC001', 'bad input');
    await assert.rejects(
      plain.execute(async () => {
        throw refusal;
      }),
      (error) => error === refusal,
    );
  });

  it('retries only the errors it is told to, up to the attempt limit', async () => {
    const { policy: retrying } = policy({ retry: { attempts: 3, when: (error) => error instanceof Transient } });
    let calls = 0;
    await assert.rejects(
      retrying.execute(async () => {
        calls += 1;
        throw new Transient();
      }),
      unavailableBecause(Transient),
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      retrying.execute(async () => {
        calls += 1;
        throw new Permanent();
      }),
      Permanent,
    );
    assert.equal(calls, 1);
    calls = 0;
    assert.equal(await retrying.execute(async () => (++calls < 2 ? Promise.reject(new Transient()) : 'ok')), 'ok');
  });

  it('times out an attempt that never settles, and aborts its signal', async () => {
    const { policy: bounded } = policy({ attemptTimeoutMs: 20 });
    let aborted = false;
    const error = await bounded
      .execute((signal) => new Promise(() => signal.addEventListener('abort', () => (aborted = true))))
      .catch((caught: unknown) => caught);
    assert.ok(isTimeout(error));
    assert.ok(error instanceof ApiError && error.code === 'SYS002');
    assert.ok(aborted);
  });

  it('does not take an answer that arrived in time for a timeout because the event loop was busy', async () => {
    // An echo server in a process of its own: its answer is in the socket long before this busy loop looks.
    const server = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer((s) => s.on('data', (d) => s.write(d))).listen(0, '127.0.0.1', function () { console.log(this.address().port) })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const port = Number(String((await once(server.stdout!, 'data'))[0]).trim());
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    try {
      const { policy: bounded } = policy({ attemptTimeoutMs: 20 });
      const answer = bounded.execute(async () => {
        const echoed = once(socket, 'data');
        socket.write('ping');
        const busyUntil = Date.now() + 100;
        while (Date.now() < busyUntil); // the timer is due long before the loop polls the socket
        return String((await echoed)[0]);
      });
      assert.equal(await answer, 'ping');
    } finally {
      socket.destroy();
      server.kill();
    }
  });

  it('opens after consecutive dependency failures, then refuses without calling; caller mistakes do not count', async () => {
    const { policy: guarded, metrics } = policy();
    for (let i = 0; i < CIRCUIT_BREAKER_FAILURES * 2; i++) {
      await assert.rejects(
        guarded.execute(async () => {
          throw new Permanent();
        }),
        Permanent,
      );
    }
    for (let i = 0; i < CIRCUIT_BREAKER_FAILURES; i++) {
      await assert.rejects(
        guarded.execute(async () => {
          throw new Transient();
        }),
        unavailableBecause(Transient),
      );
    }
    let called = false;
    const error = await guarded.execute(async () => (called = true)).catch((caught: unknown) => caught);
    assert.ok(isCircuitOpen(error));
    assert.ok(error instanceof ApiError && error.code === 'SYS002');
    assert.equal(called, false);
    assert.match(await metrics.render(), /pii_api_circuit_breaker_state\{dependency="dep"\} 1/);
  });
});
