import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, Stack, STACKS, urlOf } from './support/stacks';

/**
 * The machine's Redis, shared by both replicas. Callers get random `sub`s and people random ids,
 * so that other runs sharing it (their budgets, their cached public keys) never meet these.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';
const BUDGET = 3;
const randomUserId = () => String(1_000_000_000 + randomInt(2 ** 47));

for (const definition of STACKS) {
  describe(`decrypt budgets across people — ${definition.name}`, () => {
    let stack: Stack;
    let replica: NestExpressApplication;
    const ciphertexts = new Map<string, string[]>();
    const PEOPLE = Array.from({ length: 5 }, randomUserId);

    before(async () => {
      stack = await definition.start({ REDIS_URL, DECRYPT_SUBJECT_BUDGET: String(BUDGET), DECRYPT_SUBJECT_WINDOW_SECONDS: '3600' });
      // The embedded stack's database lives in its process: a second replica needs PostgreSQL.
      replica = definition === awsStack ? await stack.startAnother() : stack.app;
      await createPeople(stack);
    });
    after(() => stack?.close());

    async function createPeople(on: Stack): Promise<void> {
      const admin = await on.identity(`admin-${randomUUID()}`, ['keys:write', 'encrypt']);
      for (const userId of PEOPLE) {
        assert.equal((await on.as(admin).post('/api/v1/keys').send({ userId })).status, 201);
        ciphertexts.set(
          userId,
          (
            await on
              .as(admin)
              .post('/api/v1/encrypt')
              .send({ userId, data: [`secret of ${userId}`] })
          ).body.encryptedData,
        );
      }
    }

    /** A new caller, with its own `sub`. */
    const caller = (permissions: Parameters<Stack['identity']>[1] = ['decrypt', 'rotate']) =>
      stack.identity(`reader-${randomUUID()}`, permissions);
    const on = (url: string, token: string) => checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), stack.contract);
    const replicaUrl = () => urlOf(replica);
    const decrypt = (url: string, token: string, userId: string, headers: Record<string, string> = {}) =>
      on(url, token)
        .post('/api/v1/decrypt')
        .set(headers)
        .send({ userId, data: ciphertexts.get(userId) });
    const exceeded = (userId: string) =>
      stack.query(
        `SELECT outcome, error_code, details FROM audit_events WHERE action = 'budget.exceeded' AND target_user_id = $1 ORDER BY occurred_at`,
        [userId],
      );
    async function exceededCount(url: string, outcome: string): Promise<number> {
      const text = (await checkedAgent(request.agent(url), stack.contract).get('/metrics')).text;
      const line = text.split('\n').find((l) => l.startsWith(`pii_api_decrypt_budget_exceeded_total{outcome="${outcome}"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    }

    it('refuses the fourth distinct person with 429 RATE002 and Retry-After, counting across two replicas sharing Redis', async () => {
      const token = await caller();
      for (const [i, userId] of PEOPLE.slice(0, BUDGET).entries()) {
        const response = await decrypt(i % 2 ? replicaUrl() : stack.url, token, userId);
        assert.equal(response.status, 200, JSON.stringify(response.body));
      }
      const refusedBefore = await exceededCount(replicaUrl(), 'refused');
      const refused = await decrypt(replicaUrl(), token, PEOPLE[3]);
      assert.equal(refused.status, 429);
      assert.equal(refused.body.code, 'RATE002');
      assert.ok(!JSON.stringify(refused.body).includes('secret of'), 'no data in the refusal');
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(
        retryAfter >= 3590 && retryAfter <= 3600,
        `Retry-After ${refused.headers['retry-after']}: when the oldest person leaves the hour`,
      );
      assert.equal(await exceededCount(replicaUrl(), 'refused'), refusedBefore + 1);

      // The other routes count against the same budget, on either replica.
      const rewrap = await on(stack.url, token)
        .post('/api/v1/rewrap')
        .send({ userId: PEOPLE[4], data: ciphertexts.get(PEOPLE[4]) });
      assert.equal(rewrap.body.code, 'RATE002');
      // People already counted stay readable.
      assert.equal((await decrypt(stack.url, token, PEOPLE[0])).status, 200);

      const events = await exceeded(PEOPLE[3]);
      assert.ok(
        events.some(
          (e) =>
            e.outcome === 'denied' &&
            e.error_code === 'RATE002' &&
            e.details.budget === BUDGET &&
            e.details.route === 'POST /api/v1/decrypt',
        ),
      );
    });

    it('counts one person’s many requests as one person', async () => {
      const token = await caller();
      for (let i = 0; i < 25; i++) assert.equal((await decrypt(i % 2 ? replicaUrl() : stack.url, token, PEOPLE[0])).status, 200);
      assert.equal((await decrypt(stack.url, token, PEOPLE[1])).status, 200);
      assert.equal((await decrypt(replicaUrl(), token, PEOPLE[2])).status, 200);
      assert.equal((await decrypt(stack.url, token, PEOPLE[3])).status, 429);
    });

    it('lets a break-glass caller past its budget with a reason, and records the reason', async () => {
      const token = await caller(['decrypt', 'decrypt:break-glass']);
      for (const userId of PEOPLE.slice(0, BUDGET)) assert.equal((await decrypt(stack.url, token, userId)).status, 200);
      assert.equal((await decrypt(stack.url, token, PEOPLE[3])).body.code, 'RATE002', 'no reason, no break-glass');
      const bad = await decrypt(stack.url, token, PEOPLE[3], { 'X-Break-Glass-Reason': '   ' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'ENC001');

      const before = await exceededCount(replicaUrl(), 'break_glass');
      const reason = `incident INC-${randomUUID().slice(0, 8)}: restoring records`;
      const allowed = await decrypt(replicaUrl(), token, PEOPLE[3], { 'X-Break-Glass-Reason': reason });
      assert.equal(allowed.status, 200);
      assert.deepEqual(allowed.body.decryptedData, [`secret of ${PEOPLE[3]}`]);
      assert.equal(await exceededCount(replicaUrl(), 'break_glass'), before + 1);
      const events = (await exceeded(PEOPLE[3])).filter((e) => e.details.breakGlassReason === reason);
      assert.equal(events.length, 1);
      assert.equal(events[0].outcome, 'success');
    });

    it('still refuses a caller without decrypt:break-glass that sends a reason', async () => {
      const token = await caller();
      for (const userId of PEOPLE.slice(0, BUDGET)) assert.equal((await decrypt(stack.url, token, userId)).status, 200);
      const refused = await decrypt(replicaUrl(), token, PEOPLE[3], { 'X-Break-Glass-Reason': 'I really need it' });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.code, 'RATE002');
    });

    it('keeps enforcing the budget in memory while Redis is down', async () => {
      // Nothing listens on port 1: Redis is configured and never answers.
      const down = await definition.start({
        REDIS_URL: 'redis://127.0.0.1:1',
        REDIS_TIMEOUT_MS: '100',
        DECRYPT_SUBJECT_BUDGET: String(BUDGET),
      });
      try {
        await createPeople(down);
        const token = await down.identity(`reader-${randomUUID()}`, ['decrypt']);
        for (const userId of PEOPLE.slice(0, BUDGET)) assert.equal((await decrypt(down.url, token, userId)).status, 200);
        assert.equal((await decrypt(down.url, token, PEOPLE[0])).status, 200);
        const refused = await decrypt(down.url, token, PEOPLE[3]);
        assert.equal(refused.status, 429);
        assert.equal(refused.body.code, 'RATE002');
      } finally {
        await down.close();
      }
    });
  });
}
