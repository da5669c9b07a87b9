import { Logger } from '@nestjs/common';
import { decode } from 'jsonwebtoken';
import { randomUUID } from 'node:crypto';
import { mock } from 'node:test';
import { GENESIS_HASH, SealedAuditEvent, sealEvent } from '../../src/audit/audit-chain';
import { Permission } from '../../src/common/permissions';
import { LocalIssuer } from '../../src/auth/signing-keys';
import { CognitoPool } from '../support/moto';
import { Stack } from '../support/stacks';

/** An audit row as the tests read it straight from the table. */
export interface AuditRow {
  id: string;
  chain_id: string;
  seq: string;
  request_id: string | null;
  action: string;
  outcome: string;
  error_code: string | null;
  actor_sub: string | null;
  actor_client_id: string | null;
  actor_username: string | null;
  user_id: string | null;
  key_versions: number[];
  item_count: number | null;
  source_ip: string | null;
  purpose: string | null;
  details: Record<string, unknown> | null;
}

/** Audit rows matching `where`, in the order they were written. */
export function auditRows(stack: Stack, where: string, params: unknown[] = []): Promise<AuditRow[]> {
  return stack.query<AuditRow>(
    `SELECT id, chain_id, seq, request_id, action, outcome, error_code, actor_sub, actor_client_id, actor_username,
            target_user_id::text AS user_id, key_versions, item_count, source_ip, purpose, details
       FROM audit_events WHERE ${where} ORDER BY occurred_at, seq`,
    params,
  );
}

/** The events one request left, in the order they were written. */
export const eventsOf = (stack: Stack, requestId: string) => auditRows(stack, 'request_id = $1', [requestId]);

/** The whole table as text, for searching it for anything that must never be there. */
export async function wholeTrail(stack: Stack): Promise<string> {
  const rows = await stack.query<{ row: string }>(`SELECT t::text AS row FROM audit_events t`);
  return rows.map((r) => r.row).join('\n');
}

export const newRequestId = () => `audit-test-${randomUUID()}`;

/** Who a token says its caller is, as the trail should record it. */
export function actorOf(token: string): { sub: string; clientId: string; username: string | null } {
  const claims = decode(token) as Record<string, unknown>;
  return {
    sub: String(claims.sub),
    clientId: String(claims.client_id),
    username: typeof claims.username === 'string' ? claims.username : null,
  };
}

/** A token of a caller distinct from every other: a new user of moto's pool, or a new local subject. */
export async function anotherCaller(stack: Stack, name: string, permissions: Permission[]): Promise<string> {
  const pool = (stack as Stack & { pool?: CognitoPool }).pool;
  if (pool) return pool.accessToken(permissions);
  return (await LocalIssuer.open(stack.env.DATA_DIR)).mint(600, { sub: name, scope: permissions.join(' ') });
}

/**
 * Captures every message given to a Nest Logger (whichever logger is installed behind it)
 * until `restore`: the audit lines, and anything else the service logs meanwhile.
 */
export function captureLogs() {
  const lines: string[] = [];
  for (const level of ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const) {
    mock.method(Logger.prototype, level, (...args: unknown[]) => {
      lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
    });
  }
  return {
    text: () => lines.join('\n'),
    /** The audit events logged, parsed from their JSON lines. */
    auditEvents: () =>
      lines.flatMap((line) => {
        const start = line.indexOf('{"audit":');
        return start >= 0 && line.trimEnd().endsWith('}') ? [JSON.parse(line.slice(start)).audit] : [];
      }),
    restore: () => mock.restoreAll(),
  };
}

/**
 * Encrypt events of a `legacy` caller for one user at the given times, sealed as the service
 * seals them, continuing a chain after `previous` (or starting it): for trails older than any
 * retention period, inserted through the audit store.
 */
export function sealLegacyEvents(chainId: string, userId: string, times: string[], previous?: SealedAuditEvent): SealedAuditEvent[] {
  const sealed: SealedAuditEvent[] = [];
  for (const time of times) {
    const last = sealed.at(-1) ?? previous;
    sealed.push(
      sealEvent(
        {
          id: randomUUID(),
          time,
          requestId: null,
          actor: { sub: 'legacy', clientId: null, username: null },
          action: 'encrypt',
          userId,
          keyVersions: [1],
          itemCount: 1,
          outcome: 'success',
          errorCode: null,
          sourceIp: null,
          purpose: null,
          details: null,
        },
        { chainId, seq: (last?.seq ?? 0) + 1, prevHash: last?.hash ?? GENESIS_HASH },
      ),
    );
  }
  return sealed;
}
