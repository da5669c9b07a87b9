import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuditWriter } from '../audit/audit-writer.service';
import { ApiError } from '../common/api-error';
import { APPROVAL_REQUEST_TTL_SECONDS, APPROVALS_REQUIRED, ApprovalAction, countedApprovers } from '../common/approvals';
import { isUuid } from '../common/uuid';
import { AppConfig } from '../config/app-config';
import { activeTraceId } from '../logging/trace-context';
import { ApprovalRequestRepository, ApprovalRequestRow } from '../repositories/approval-request.repository';
import { approvalState } from './approval-state';
import { ApprovalRequestView } from './dto/approval.dto';

/** One destructive action on one target: what a request asks for and what its approval allows. */
export interface ApprovalGate {
  action: ApprovalAction;
  target: string;
}

/** Who makes the call, and under which approved request (the X-Approval-Id header), if any. */
export interface ApprovalCall {
  actor: { sub: string; clientId: string | null; username: string | null };
  approvalId?: string;
  requestId?: string | null;
  sourceIp?: string | null;
}

/** The approved request a call runs under: who asked and who approved (none when DUAL_CONTROL=off and no request was named). */
export interface RunUnder {
  approvalRequestId: string;
  requestedBy: string;
  approvedBy: string[];
}

/** What a gated call came to: a request waiting for its approval (202), or the action's own result. */
export type Gated<T> = { pending: ApprovalRequestView } | { done: T };

const requestNotFound = (id: string) => new ApiError('APPROVAL001', `No approval request ${id}`);

/**
 * The two-person rule on destructive actions (README "Two-person rule"). A route that destroys
 * or opens a way to destroy runs its action through {@link guard}: called without X-Approval-Id
 * (DUAL_CONTROL=on), it runs nothing and makes a request, answered 202; a second identity
 * (another token `sub`, with `approvals:approve`) approves it; the call repeated with
 * X-Approval-Id then runs the action, once. The approvals follow the grants' rules
 * (src/common/approvals.ts): the requester never approves, a repeated approval counts once.
 * Every step is audited with its actor: the route's own event (the request, then the action),
 * `approval.approve` by the approver naming the requester, and `approval.execute` naming both
 * before the action runs.
 */
@Injectable()
export class DualControlService implements OnModuleInit {
  private readonly logger = new Logger('DualControl');

  constructor(
    private readonly requests: ApprovalRequestRepository,
    private readonly audit: AuditWriter,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    if (!this.config.dualControl) {
      this.logger.warn(
        'DUAL_CONTROL=off: one operator alone can finish a blind-index rotation, start a KMS key migration and lift the mass-destruction breaker',
      );
    }
  }

  /**
   * Runs `work` when the call may: under the approved request `call.approvalId` names (used
   * once, for this very action and target), or without one when DUAL_CONTROL=off. Otherwise
   * makes a pending request for `gate` and runs nothing. When `work` fails, the request is given
   * back (it may run again, until it expires).
   */
  async guard<T>(gate: ApprovalGate, call: ApprovalCall, work: (under: RunUnder | null) => Promise<T>): Promise<Gated<T>> {
    if (call.approvalId === undefined) {
      if (!this.config.dualControl) return { done: await work(null) };
      return { pending: await this.request(gate, call.actor.sub) };
    }
    const used = await this.use(gate, call);
    try {
      return { done: await work(used) };
    } catch (error) {
      await this.requests
        .release(used.approvalRequestId, call.actor.sub)
        .catch((releaseError: unknown) =>
          this.logger.warn(
            `Approval request ${used.approvalRequestId} stays used although its ${gate.action} failed (${(releaseError as Error)?.name}); ask for a new one`,
          ),
        );
      throw error;
    }
  }

  async approve(id: string, approver: string): Promise<ApprovalRequestView> {
    const request = await this.load(id);
    if (request.requestedBy === approver) throw new ApiError('AUTH002', 'The requester of an action may not approve it');
    const { state } = approvalState(this.factsOf(request), new Date());
    if (state === 'used' || state === 'expired') throw new ApiError('APPROVAL002', `The approval request is ${state}`);
    await this.requests.addApproval(id, approver);
    this.logger.log(`approval request ${id} (${request.action} ${request.target}) approved by ${approver}`);
    return this.view(await this.load(id));
  }

  async find(id: string): Promise<ApprovalRequestView> {
    return this.view(await this.load(id));
  }

  async list(): Promise<ApprovalRequestView[]> {
    return (await this.requests.listOnPrimary()).map((request) => this.view(request));
  }

  private async request(gate: ApprovalGate, requestedBy: string): Promise<ApprovalRequestView> {
    const id = randomUUID();
    await this.requests.insert({ id, ...gate, requestedBy, ttlSeconds: APPROVAL_REQUEST_TTL_SECONDS });
    this.logger.log(`approval request ${id}: ${gate.action} ${gate.target} asked by ${requestedBy}, waiting for a second person`);
    return this.view(await this.load(id));
  }

  /** Marks the approved request used by this call, and records who asked, who approved and who runs it. */
  private async use(gate: ApprovalGate, call: ApprovalCall): Promise<RunUnder> {
    const id = call.approvalId!;
    const usedBy = call.actor.sub;
    await this.load(id);
    if (!(await this.requests.use(id, gate.action, gate.target, usedBy, APPROVALS_REQUIRED))) {
      throw this.whyNotUsable(await this.load(id), gate);
    }
    const used = await this.load(id);
    const counted = countedApprovers(
      used.requestedBy,
      used.approvals.map((approval) => approval.approver),
    );
    try {
      await this.audit.append({
        action: 'approval.execute',
        outcome: 'success',
        actor: call.actor,
        requestId: call.requestId ?? null,
        sourceIp: call.sourceIp ?? null,
        traceId: activeTraceId(),
        details: { approvalRequestId: id, action: gate.action, target: gate.target, requestedBy: used.requestedBy, approvedBy: counted },
      });
    } catch (error) {
      await this.requests.release(id, usedBy).catch(() => undefined);
      throw error;
    }
    this.logger.log(
      `approval request ${id}: ${gate.action} ${gate.target} run by ${usedBy} (asked by ${used.requestedBy}, approved by ${counted.join(', ')})`,
    );
    return { approvalRequestId: id, requestedBy: used.requestedBy, approvedBy: counted };
  }

  private whyNotUsable(request: ApprovalRequestRow, gate: ApprovalGate): ApiError {
    if (request.action !== gate.action || request.target !== gate.target) {
      return new ApiError(
        'APPROVAL003',
        `The approval request is for ${request.action} of ${JSON.stringify(request.target)}, not ${gate.action} of ${JSON.stringify(gate.target)}`,
      );
    }
    const { state, counted } = approvalState(this.factsOf(request), new Date());
    if (state === 'used' || state === 'expired') return new ApiError('APPROVAL002', `The approval request is ${state}`);
    return new ApiError(
      'APPROVAL003',
      `The approval request has ${counted.length} of ${APPROVALS_REQUIRED} approval(s) by someone other than its requester`,
    );
  }

  /** From the primary: every caller authorizes from it or just wrote it. */
  private async load(id: string): Promise<ApprovalRequestRow> {
    if (!isUuid(id)) throw new ApiError('APPROVAL001', 'No approval request has this id (approval request ids are UUIDs)');
    const request = await this.requests.findOnPrimary(id);
    if (!request) throw requestNotFound(id);
    return request;
  }

  private factsOf(request: ApprovalRequestRow) {
    return { ...request, approvers: request.approvals.map((approval) => approval.approver) };
  }

  private view(request: ApprovalRequestRow): ApprovalRequestView {
    const { state, counted } = approvalState(this.factsOf(request), new Date());
    return {
      id: request.id,
      action: request.action as ApprovalAction,
      target: request.target,
      state,
      requestedBy: request.requestedBy,
      createdAt: request.createdAt.toISOString(),
      expiresAt: request.expiresAt.toISOString(),
      approvals: request.approvals.map((approval) => ({ approver: approval.approver, approvedAt: approval.approvedAt.toISOString() })),
      approvalsCounted: counted.length,
      approvalsRequired: APPROVALS_REQUIRED,
      ...(request.usedAt && { usedAt: request.usedAt.toISOString(), usedBy: request.usedBy ?? undefined }),
    };
  }
}
