import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SingleFlight } from './single-flight';

/** A load the test settles when it wants, counting how often it was started. */
function manualLoad<V>() {
  let settle!: { resolve: (value: V) => void; reject: (error: Error) => void };
  let started = 0;
  const load = () => {
    started += 1;
    return new Promise<V>((resolve, reject) => (settle = { resolve, reject }));
  };
  return { load, settle: () => settle, started: () => started };
}
/** Lets started flights begin their loads. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SingleFlight', () => {
  it('starts one load for concurrent callers of the same key and gives each its value', async () => {
    let joins = 0;
    const flights = new SingleFlight<string>(() => joins++);
    const { load, settle, started } = manualLoad<string>();
    const waiting = Array.from({ length: 5 }, () => flights.run('person-1', load));
    await tick();
    settle().resolve('key');
    assert.deepEqual(await Promise.all(waiting), ['key', 'key', 'key', 'key', 'key']);
    assert.equal(started(), 1);
    assert.equal(joins, 4);
  });

  it('loads different keys separately', async () => {
    const flights = new SingleFlight<string>();
    const a = manualLoad<string>();
    const b = manualLoad<string>();
    const first = flights.run('a', a.load);
    const second = flights.run('b', b.load);
    await tick();
    a.settle().resolve('A');
    b.settle().resolve('B');
    assert.deepEqual(await Promise.all([first, second]), ['A', 'B']);
  });

  it('gives every waiter the failure and does not remember it: the next caller loads again', async () => {
    const flights = new SingleFlight<string>();
    const failing = manualLoad<string>();
    const waiting = [flights.run('k', failing.load), flights.run('k', failing.load)];
    await tick();
    failing.settle().reject(new Error('throttled'));
    for (const result of await Promise.allSettled(waiting)) assert.equal(result.status, 'rejected');
    const retry = manualLoad<string>();
    const next = flights.run('k', retry.load);
    await tick();
    retry.settle().resolve('fresh');
    assert.equal(await next, 'fresh');
    assert.equal(retry.started(), 1);
  });

  it('keeps no value once a load has settled: a later caller starts a new load', async () => {
    const flights = new SingleFlight<number>();
    let loads = 0;
    assert.equal(await flights.run('k', async () => ++loads), 1);
    assert.equal(await flights.run('k', async () => ++loads), 2);
  });

  it('turns a load that throws before its first await into a failed flight, not a thrown call', async () => {
    const flights = new SingleFlight<string>();
    const flight = flights.run('k', () => {
      throw new Error('bad input');
    });
    await assert.rejects(flight, /bad input/);
    assert.equal(await flights.run('k', async () => 'ok'), 'ok');
  });
});
