import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiError, invalidInput } from '../common/api-error';
import { AppConfig } from '../config/app-config';
import { isUuid } from '../common/uuid';
import { ReEncryptionService } from '../crypto/re-encryption.service';
import { KeyMaterialService } from '../keys/key-material.service';
import { GrantRepository } from '../repositories/grant.repository';
import { ReadFrom } from '../repositories/read-from';
import { CreateGrantRequest, GrantView } from './dto/grant.dto';
import { KeyGrant, KeyGrantApproval } from '../repositories/entities/key-grant.entity';
import { grantState, whyNotActive } from './grant-state';

const grantNotFound = (id: string) => new ApiError('GRANT001', `No grant ${id}`);

/** Grant ids are UUIDs: anything else names no grant (and must not reach the uuid column). */
function requireGrantId(id: string): void {
  if (!isUuid(id)) throw grantNotFound(id);
}

/**
 * Delegated release: grants from a person's data to a delegate's key, approved by callers other
 * than the creator, and /translate, which re-encrypts inside the service so that plaintext never
 * crosses the API.
 */
@Injectable()
export class DelegationService {
  private readonly logger = new Logger('Delegation');

  constructor(
    private readonly grants: GrantRepository,
    private readonly keys: KeyMaterialService,
    private readonly reencryption: ReEncryptionService,
    private readonly config: AppConfig,
  ) {}

  async create(request: CreateGrantRequest, createdBy: string): Promise<GrantView> {
    if (request.fromUserId === request.toUserId) throw invalidInput('fromUserId and toUserId must differ');
    const notBefore = request.notBefore ? new Date(request.notBefore) : null;
    const expiresAt = request.expiresAt ? new Date(request.expiresAt) : null;
    if (expiresAt && expiresAt <= (notBefore ?? new Date())) {
      throw invalidInput('expiresAt must be later than notBefore and than now');
    }
    const id = randomUUID();
    await this.grants.insert({
      id,
      fromUserId: request.fromUserId,
      toUserId: request.toUserId,
      reason: request.reason,
      createdBy,
      notBefore,
      expiresAt,
    });
    const grant = await this.load(id);
    this.logger.log(`grant ${id} created by ${createdBy}: user ${grant.fromUserId} -> user ${grant.toUserId}`);
    return grant;
  }

  /** Records `approver`'s approval. The creator may not approve; a repeated approval changes nothing. */
  async approve(id: string, approver: string): Promise<GrantView> {
    const grant = await this.load(id);
    if (grant.createdBy === approver) throw new ApiError('AUTH002', 'The creator of a grant may not approve it');
    if (grant.state === 'revoked' || grant.state === 'expired') {
      throw new ApiError('GRANT002', `The grant is ${grant.state} and can no longer be approved`);
    }
    await this.grants.addApproval(id, approver);
    this.logger.log(`grant ${id} approved by ${approver}`);
    return this.load(id);
  }

  async revoke(id: string, revokedBy: string): Promise<GrantView> {
    requireGrantId(id);
    const updated = await this.grants.revoke(id, revokedBy);
    const grant = await this.load(id);
    if (updated) this.logger.log(`grant ${id} revoked by ${revokedBy}`);
    return grant;
  }

  /** GET /grants: a listing, which may lag behind the primary by a replica's delay. */
  list(filter: { fromUserId?: string; toUserId?: string }): Promise<GrantView[]> {
    return this.listFrom(filter, 'replica');
  }

  private async listFrom(filter: { fromUserId?: string; toUserId?: string }, from: ReadFrom): Promise<GrantView[]> {
    const grants = await this.grants.list(filter, { from });
    const now = new Date();
    return grants.map((grant) => this.view(grant, now));
  }

  /**
   * Re-encrypts every ciphertext of `fromUserId` in `data` under `toUserId`'s current key. Needs
   * an active grant from → to (AUTH002 says why not). All or nothing; plaintext stays in memory.
   */
  async translate(fromUserId: string, toUserId: string, data: unknown): Promise<unknown> {
    await this.requireActiveGrant(fromUserId, toUserId);
    const found = this.reencryption.findInDocument('data', data);
    const recipient = await this.keys.currentPublicKey(toUserId);
    const { ciphertexts } = await this.reencryption.reencrypt(fromUserId, found, { userId: toUserId, key: recipient });
    this.logger.log(`translated ${found.length} item(s) from user ${fromUserId} to user ${toUserId}`);
    return this.reencryption.replaceInDocument(data, ciphertexts);
  }

  /**
   * AUTH002 unless a grant from → to is active. From the primary (a revocation must stop
   * /translate at once, whatever a replica still shows), and by a query for an active grant,
   * so that no number of other grants of the pair (pending, revoked, expired) can hide it; the
   * grant found is checked again by grantState, the one rule.
   */
  private async requireActiveGrant(fromUserId: string, toUserId: string): Promise<void> {
    const now = new Date();
    const activeId = await this.grants.activeGrantIdOnPrimary(fromUserId, toUserId, now, this.config.grantApprovalsRequired);
    const active = activeId ? await this.grants.findWithApprovals(activeId, { from: 'primary' }) : null;
    if (active && this.view(active, now).state === 'active') return;
    const newest = await this.grants.newestOfPairOnPrimary(fromUserId, toUserId);
    if (!newest) throw new ApiError('AUTH002', `No grant releases user ${fromUserId}'s data to user ${toUserId}`);
    const view = this.view(newest, now);
    throw new ApiError('AUTH002', `No active grant: ${whyNotActive(view.state, view.approvalsCounted, view.approvalsRequired)}`);
  }

  /** The grant as the primary has it: every caller either just wrote it or decides a write from it. */
  private async load(id: string): Promise<GrantView> {
    requireGrantId(id);
    const grant = await this.grants.findWithApprovals(id, { from: 'primary' });
    if (!grant) throw grantNotFound(id);
    return this.view(grant, new Date());
  }

  private view(grant: KeyGrant, now: Date): GrantView {
    const required = this.config.grantApprovalsRequired;
    const { state, countedApprovals } = grantState(grant, required, now);
    return {
      id: grant.id,
      fromUserId: grant.fromUserId,
      toUserId: grant.toUserId,
      reason: grant.reason,
      state,
      createdBy: grant.createdBy,
      createdAt: grant.createdAt.toISOString(),
      notBefore: grant.notBefore?.toISOString(),
      expiresAt: grant.expiresAt?.toISOString(),
      revokedAt: grant.revokedAt?.toISOString(),
      approvalsCounted: countedApprovals,
      approvalsRequired: required,
      approvals: grant.approvals
        .sort((a, b) => a.approvedAt.getTime() - b.approvedAt.getTime())
        .map((a: KeyGrantApproval) => ({ approver: a.approver, approvedAt: a.approvedAt.toISOString() })),
    };
  }
}
