import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppConfig } from '../config/app-config';
import { RedisConnection } from '../redis/redis-connection';
import { DecryptBudget } from './decrypt-budget.service';

const WINDOW_SECONDS = 3600;

/** Redis as the budget script sees it: one set of people per caller; every round trip recorded. */
function fakeRedis() {
  const people = new Map<string, Set<string>>();
  const calls: string[] = [];
  const client = {
    evalSha: async (_sha: string, { keys, arguments: args }: { keys: string[]; arguments: string[] }) => {
      const [, , budget, person, force] = args;
      calls.push(person);
      const seen = people.get(keys[0]) ?? new Set<string>();
      people.set(keys[0], seen);
      const over = !seen.has(person) && seen.size >= Number(budget);
      if (over && force !== '1') return [0, 1, Date.now()];
      seen.add(person);
      return [1, over ? 1 : 0, 0];
    },
  };
  const redis = { isConfigured: true, execute: (command: (c: typeof client) => Promise<unknown>) => command(client) };
  return { redis: redis as unknown as RedisConnection, calls };
}

const budgetWith = (redis: RedisConnection) =>
  new DecryptBudget({ decryptBudget: { windowSeconds: WINDOW_SECONDS, perCaller: 2, overrides: {} } } as unknown as AppConfig, redis);

describe('DecryptBudget', () => {
  it('asks Redis once for a caller reading the same person again and again within a minute', async () => {
    const { redis, calls } = fakeRedis();
    const budget = budgetWith(redis);
    for (let read = 0; read < 5; read++) assert.equal((await budget.count('svc', '42', 2, false)).admitted, true);
    assert.deepEqual(calls, ['42']);
  });

  it('still refuses a new person past the budget, and asks Redis again about a person it refused', async () => {
    const { redis, calls } = fakeRedis();
    const budget = budgetWith(redis);
    const start = Date.now();
    assert.equal((await budget.count('svc', '1', 2, false, start)).admitted, true);
    assert.equal((await budget.count('svc', '2', 2, false, start)).admitted, true);
    const refused = await budget.count('svc', '3', 2, false, start);
    assert.deepEqual([refused.admitted, refused.over], [false, true]);
    assert.equal((await budget.count('svc', '3', 2, false, start)).admitted, false, 'a refused person is not remembered as counted');
    assert.deepEqual(calls, ['1', '2', '3', '3']);
  });

  it('keeps callers apart: another caller reading the same person is counted in Redis', async () => {
    const { redis, calls } = fakeRedis();
    const budget = budgetWith(redis);
    await budget.count('svc-a', '42', 2, false);
    await budget.count('svc-b', '42', 2, false);
    assert.deepEqual(calls, ['42', '42']);
  });
});
