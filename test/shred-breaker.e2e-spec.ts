import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { PERMISSIONS } from '../src/common/permissions';
import { checkedAgent } from './support/openapi-contract';
import { awsStack, embeddedStack, Stack, StackDefinition } from './support/stacks';

/** Requests of one replica, as the caller holding `token`. */
type Replica = (token: string) => request.Agent;

const LIMIT = 3;

/**
 * Issue 26: no data lost to one stolen credential. Beyond SHRED_MAX_PER_HOUR crypto-shreds by
 * DELETE /keys in an hour, counted on the primary across every replica, the mass-destruction
 * breaker trips: every further DELETE that would destroy keys is refused with 429 SHRED001 and
 * destroys nothing, until two different people lift it (the two-person rule).
 */
function breakerSuite(definition: StackDefinition, replicas: 1 | 2) {
  describe(`mass-destruction breaker — ${definition.name}${replicas === 2 ? ', two replicas' : ''}`, { timeout: 300_000 }, () => {
    let stack: Stack;
    let a: Replica;
    let b: Replica;
    /** Holds every permission, approvals:approve included: a single stolen admin credential. */
    let officer1: string;
    let officer2: string;
    let people: string[];

    const agentOf =
      (app: { getHttpServer(): unknown }): Replica =>
      (token) =>
        checkedAgent(request.agent(app.getHttpServer() as never), stack.contract).auth(token, { type: 'bearer' }) as never;

    before(async () => {
      stack = await definition.start({ SHRED_MAX_PER_HOUR: String(LIMIT) });
      a = agentOf(stack.app);
      b = replicas === 2 ? agentOf(await stack.startAnother()) : a;
      officer1 = await stack.identity('security-officer-1', PERMISSIONS);
      officer2 = await stack.identity('security-officer-2', ['approvals:approve']);
      people = Array.from({ length: LIMIT + 3 }, (_, i) => String(7100 + i));
      for (const userId of people) await a(officer1).post('/api/v1/keys').send({ userId }).expect(201);
    });
    after(async () => stack?.close());

    it(`trips after ${LIMIT} shreds in an hour, DELETEs alternating over the replicas, and refuses the next ones with 429 SHRED001, destroying nothing`, async () => {
      const statuses: number[] = [];
      const codes: string[] = [];
      for (const [i, userId] of people.slice(0, LIMIT + 2).entries()) {
        const replica = i % 2 === 0 ? a : b;
        const response = await replica(officer1).delete(`/api/v1/keys/${userId}`);
        statuses.push(response.status);
        codes.push(response.body.code);
      }
      assert.deepEqual(statuses, [...Array(LIMIT).fill(200), 429, 429]);
      assert.deepEqual(codes.slice(LIMIT), ['SHRED001', 'SHRED001']);
      for (const userId of people.slice(LIMIT)) {
        const encrypted = await b(officer1)
          .post('/api/v1/encrypt')
          .send({ userId, data: ['still here'] })
          .expect(200);
        const decrypted = await a(officer1)
          .post('/api/v1/decrypt')
          .send({ userId, data: encrypted.body.encryptedData, purpose: 'breaker test' })
          .expect(200);
        assert.deepEqual(decrypted.body.decryptedData, ['still here'], `user ${userId}'s key survived`);
      }
      const [{ count }] = await stack.query(
        `SELECT count(*)::int AS count FROM user_keys WHERE NOT is_active AND user_id = ANY($1::bigint[])`,
        [people],
      );
      assert.equal(count, LIMIT);
    });

    it('stays tripped on every replica, says so at GET /admin/shred-breaker and in the metrics, and audits each refusal', async () => {
      for (const replica of [a, b]) {
        const refused = await replica(officer1).delete(`/api/v1/keys/${people[LIMIT + 2]}`);
        assert.equal(refused.status, 429);
        assert.equal(refused.body.code, 'SHRED001');
        const state = (await replica(officer1).get('/api/v1/admin/shred-breaker').expect(200)).body;
        assert.equal(state.tripped, true);
        assert.equal(state.trip, 1);
        assert.equal(state.maxPerHour, LIMIT);
        assert.equal(state.destroyedInWindow, LIMIT);
      }
      const metrics = (await stack.http().get('/metrics').expect(200)).text;
      assert.match(metrics, /^pii_api_shred_breaker_tripped 1$/m);
      assert.match(metrics, /^pii_api_shred_breaker_refusals_total\{reason="tripped(_now)?"\} [1-9]/m);
      const refusals = await stack.query(
        `SELECT actor_sub, target_user_id::text AS user_id FROM audit_events WHERE action = 'key.delete' AND outcome = 'failure' AND error_code = 'SHRED001'`,
      );
      assert.ok(refusals.length >= 3, `${refusals.length} refusals audited`);
      assert.ok(refusals.every((event) => people.includes(event.user_id) && event.actor_sub));
      // A person already shredded still gets their receipt: the breaker stops destruction, not answers.
      await b(officer1).delete(`/api/v1/keys/${people[0]}`).expect(200);
    });

    it('is not lifted by one person: the request answers 202, its requester may not approve it or run it unapproved', async () => {
      const requested = await a(officer1).post('/api/v1/admin/shred-breaker/lift').expect(202);
      assert.equal(requested.body.action, 'shred-breaker.lift');
      assert.equal(requested.body.target, '1');
      assert.equal(requested.body.state, 'pending');

      const selfApproved = await b(officer1).post(`/api/v1/approvals/${requested.body.id}/approve`);
      assert.equal(selfApproved.status, 403);
      assert.equal(selfApproved.body.code, 'AUTH002');
      const unapproved = await b(officer1).post('/api/v1/admin/shred-breaker/lift').set('X-Approval-Id', requested.body.id);
      assert.equal(unapproved.status, 403);
      assert.equal(unapproved.body.code, 'APPROVAL003');
      // A second request by the same person, approved by that person: still one person.
      const again = await b(officer1).post('/api/v1/admin/shred-breaker/lift').expect(202);
      assert.equal((await a(officer1).post(`/api/v1/approvals/${again.body.id}/approve`)).status, 403);
      assert.equal((await a(officer1).delete(`/api/v1/keys/${people[LIMIT]}`)).body.code, 'SHRED001');
      assert.equal((await a(officer1).get('/api/v1/admin/shred-breaker').expect(200)).body.tripped, true);
    });

    it('is lifted by two people: a second identity approves (a repeat is not counted), the requester runs it once, and DELETE destroys again', async () => {
      const requested = (await a(officer1).post('/api/v1/admin/shred-breaker/lift').expect(202)).body;
      const approved = (await b(officer2).post(`/api/v1/approvals/${requested.id}/approve`).expect(200)).body;
      assert.equal(approved.state, 'approved');
      const repeated = (await a(officer2).post(`/api/v1/approvals/${requested.id}/approve`).expect(200)).body;
      assert.equal(repeated.approvalsCounted, 1);

      const lifted = (await b(officer1).post('/api/v1/admin/shred-breaker/lift').set('X-Approval-Id', requested.id).expect(200)).body;
      assert.equal(lifted.tripped, false);
      assert.equal(lifted.destroyedInWindow, 0);
      assert.equal(lifted.approvedBy, approved.approvals[0].approver);
      const reused = await a(officer1).post('/api/v1/admin/shred-breaker/lift').set('X-Approval-Id', requested.id);
      assert.equal(reused.status, 200, 'not tripped: nothing to lift, nothing used');
      assert.equal((await a(officer1).get(`/api/v1/approvals/${requested.id}`).expect(200)).body.state, 'used');

      await a(officer1).delete(`/api/v1/keys/${people[LIMIT]}`).expect(200);
      await b(officer1)
        .delete(`/api/v1/keys/${people[LIMIT + 1]}`)
        .expect(200);
      const metrics = (await request(stack.app.getHttpServer()).get('/metrics').expect(200)).text;
      assert.match(metrics, /^pii_api_shred_breaker_tripped 0$/m);

      const trail = await stack.query(
        `SELECT action, actor_sub, details FROM audit_events
          WHERE action IN ('approval.approve', 'approval.execute') AND details->>'approvalRequestId' = $1 AND outcome = 'success'
          ORDER BY occurred_at`,
        [requested.id],
      );
      const approval = trail.find((event) => event.action === 'approval.approve')!;
      const execution = trail.find((event) => event.action === 'approval.execute')!;
      assert.equal(approval.details.requestedBy, requested.requestedBy, 'the approval names the requester');
      assert.notEqual(approval.actor_sub, requested.requestedBy);
      assert.equal(execution.actor_sub, requested.requestedBy);
      assert.deepEqual(execution.details.approvedBy, [approval.actor_sub], 'the execution names the approver');
    });
  });
}

breakerSuite(awsStack, 2);
breakerSuite(embeddedStack, 1);
