import { Logger, LoggerService } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ApiError } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { ChainVerifier, SealedAuditEvent } from './audit-chain';
import { AuditStore } from './audit-store.service';
import { AuditWriter } from './audit-writer.service';

/** An in-memory store whose inserts the test completes or fails by hand. */
class ManualStore extends AuditStore {
  readonly rows: SealedAuditEvent[] = [];
  readonly inserts: Array<{ events: readonly SealedAuditEvent[]; finish: (error?: Error, keepRows?: boolean) => void }> = [];
  autoFinish = true;

  insert(events: readonly SealedAuditEvent[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error, keepRows = false) => {
        if (!error || keepRows) this.rows.push(...events);
        if (error) reject(error);
        else resolve();
      };
      this.inserts.push({ events, finish });
      if (this.autoFinish) finish();
    });
  }

  async lastLink(chainId: string) {
    const last = this.rows.filter((row) => row.chainId === chainId).at(-1);
    return last && { seq: last.seq, hash: last.hash };
  }
}

const config = (failOpen = false) => ({ audit: { failOpen, requirePurpose: false, retentionDays: 2555 } }) as AppConfig;
const draft = (n: number) => ({ action: 'decrypt' as const, outcome: 'success' as const, userId: '42', itemCount: n });
const settled = (promise: Promise<unknown>) => {
  const state = { done: false };
  promise.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
};
const tick = () => new Promise((resolve) => setImmediate(resolve));

function chainIsIntact(rows: SealedAuditEvent[]): boolean {
  const verifier = new ChainVerifier([]);
  return rows.every((row) => verifier.accept(row) === undefined);
}

describe('audit writer', () => {
  const logged: string[] = [];
  const errors: string[] = [];
  let store: ManualStore;

  before(() => {
    const text = (message: unknown) => (typeof message === 'string' ? message : JSON.stringify(message));
    const capture: LoggerService = { log: (m) => logged.push(text(m)), error: (m) => errors.push(text(m)), warn: () => undefined };
    Logger.overrideLogger(capture);
  });
  after(() => Logger.overrideLogger(['error']));
  beforeEach(() => {
    store = new ManualStore();
    logged.length = 0;
    errors.length = 0;
  });

  it('stores the events of one moment in one INSERT, as one intact chain, and logs each as one JSON line', async () => {
    const writer = new AuditWriter(store, config());
    await Promise.all(Array.from({ length: 50 }, (_, i) => writer.append(draft(i))));
    assert.equal(store.inserts.length, 1);
    assert.deepEqual(
      store.rows.map((row) => row.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.ok(chainIsIntact(store.rows));
    assert.equal(logged.length, 50);
    assert.equal(JSON.parse(logged[0]).audit.hash, store.rows[0].hash);
  });

  it('groups events arriving while an INSERT is in flight into the next one, and settles each only when its own is stored', async () => {
    store.autoFinish = false;
    const writer = new AuditWriter(store, config());
    const first = settled(writer.append(draft(0)));
    await tick();
    const later = Array.from({ length: 20 }, (_, i) => writer.append(draft(i + 1)));
    const laterState = later.map(settled);
    await tick();
    assert.equal(store.inserts.length, 1, 'the next INSERT waits for the one in flight');
    store.inserts[0].finish();
    await tick();
    assert.equal(first.done, true);
    assert.equal(
      laterState.some((s) => s.done),
      false,
      'not stored yet',
    );
    assert.equal(store.inserts.length, 2);
    assert.equal(store.inserts[1].events.length, 20);
    store.inserts[1].finish();
    await Promise.all(later);
    assert.ok(chainIsIntact(store.rows));
  });

  it('refuses every operation of a failed INSERT with 503 SYS002, then continues the chain from what was stored', async () => {
    store.autoFinish = false;
    const writer = new AuditWriter(store, config());
    const failed = [writer.append(draft(1)), writer.append(draft(2))];
    await tick();
    // The statement committed but the connection reported an error: the head must be read back.
    store.inserts[0].finish(new Error('connection reset'), true);
    for (const outcome of await Promise.allSettled(failed)) {
      assert.equal(outcome.status, 'rejected');
      const error = (outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof ApiError);
      assert.equal(error.code, 'SYS002');
    }
    store.autoFinish = true;
    await writer.append(draft(3));
    assert.deepEqual(
      store.rows.map((row) => row.seq),
      [1, 2, 3],
    );
    assert.ok(chainIsIntact(store.rows));
    assert.equal(logged.length, 1, 'only stored events are logged as stored');
  });

  it('with AUDIT_FAIL_OPEN lets the operation through and logs the lost event loudly', async () => {
    store.autoFinish = false;
    const writer = new AuditWriter(store, config(true));
    const pending = writer.append(draft(1));
    await tick();
    store.inserts[0].finish(new Error('permission denied'));
    await pending;
    assert.equal(errors.length, 1);
    assert.match(errors[0], /AUDIT EVENT NOT STORED/);
    assert.match(errors[0], /"action":"decrypt"/);
  });

  it('finishes queued events before the application shuts down', async () => {
    const writer = new AuditWriter(store, config());
    const pending = writer.append(draft(1));
    await writer.beforeApplicationShutdown();
    assert.equal(store.rows.length, 1);
    await pending;
  });
});
