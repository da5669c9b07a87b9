import { Injectable, Logger } from '@nestjs/common';
import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import { ApiError } from '../common/api-error';
import { failpoint } from '../common/failpoints';
import { ANSWER_WITHOUT_AUDIT_EVENT, AnsweredWithoutAuditEvent } from '../common/audit-vocabulary';
import { MANUAL_ROTATIONS_PER_DAY, ROTATION_REPLAY_HOURS } from '../common/limits';
import { ReEncryptionService } from '../crypto/re-encryption.service';
import { RotationReason } from '../repositories/entities/user-key-history.entity';
import { KeyMaterialService } from '../keys/key-material.service';
import { KeysService } from '../keys/keys.service';
import { MetricsService } from '../metrics/metrics.service';
import { RotationRepository, RotationRequestKey } from '../repositories/rotation.repository';

/** Who asks for a rotation: the caller's token `sub`, and the X-Request-Id it sent (null: none sent). */
export interface RotationCaller {
  sub: string;
  requestId: string | null;
}

/** The answer to /rotate (RotateResponse). */
export interface RotationResult {
  rotatedData: unknown;
  keyVersion: number;
  /** True when this answers a retry of a committed rotation with the same X-Request-Id. */
  replayed: boolean;
  /** False when the audit event recording this answer could not be stored (docs/audit.md). */
  auditEventStored: boolean;
}

/** Manual rotation with re-encryption, and rewrap under the current version. */
@Injectable()
export class RotationService {
  private readonly logger = new Logger('Rotation');

  constructor(
    private readonly keys: KeysService,
    private readonly keyMaterial: KeyMaterialService,
    private readonly reencryption: ReEncryptionService,
    private readonly rotations: RotationRepository,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Creates version N+1 and returns `data` with every ciphertext re-encrypted under it.
   *
   * All or nothing up to the commit: everything is decrypted and re-encrypted, and the answer
   * built, before the one transaction that swaps the key (and keeps the answer for a retry), so a
   * bad item, a KMS failure or a database failure leaves version N current. Once that transaction
   * has committed, the rotation is answered as one whatever fails afterwards: the lease release
   * and the cache eviction are logged when they fail, and a success audit event that cannot be
   * stored gives the same answer with `auditEventStored: false` (the audit interceptor).
   *
   * With an X-Request-Id, the committed answer is kept ROTATION_REPLAY_HOURS under (caller,
   * request id, person): a retry with the same body gets it again (`replayed: true`) instead of
   * another rotation; the same id with another body is refused with 422 KEY004. At most
   * MANUAL_ROTATIONS_PER_DAY rotations of one person in 24 hours: then 429 KEY003.
   */
  async rotate(
    userId: string,
    data: unknown,
    reason: RotationReason,
    caller: RotationCaller,
  ): Promise<RotationResult & AnsweredWithoutAuditEvent> {
    const request = caller.requestId ? { caller: caller.sub, requestId: caller.requestId, userId } : null;
    const requestSha256 = sha256Of({ userId, data, reason });
    const kept = request && (await this.replay(request, requestSha256));
    if (kept) return kept;
    return this.keys.withRotationLease(userId, async (fromVersion) => {
      // A retry that came in while the first call was still committing finds its answer here.
      const keptMeanwhile = request && (await this.replay(request, requestSha256));
      if (keptMeanwhile) return keptMeanwhile;
      await this.requireRotationAllowance(userId);
      const found = this.reencryption.findInDocument('data', data);
      const { ciphertexts, key: next } = await this.reencryption.reencrypt(userId, found, {
        userId,
        key: () => this.keyMaterial.prepareKey(userId, fromVersion + 1),
      });
      const rotatedData = this.reencryption.replaceInDocument(data, ciphertexts);
      const keep = request && { ...request, requestSha256, keyVersion: next.keyVersion, rotatedData, keepHours: ROTATION_REPLAY_HOURS };
      failpoint('rotate.after-keygen');
      await this.rotations.replaceCurrentKeyKeeping(userId, fromVersion, next, reason, keep);
      // Committed: nothing below may turn the answer into an error.
      this.metrics.countKeysRotated(reason);
      await this.keyMaterial
        .forgetPublicKey(userId)
        .then(() => failpoint('rotate.after-commit'))
        .catch((error: unknown) =>
          this.logger.warn(`The cached public key of user ${userId} was not evicted after its rotation (${(error as Error)?.name})`),
        );
      return answer({ rotatedData, keyVersion: next.keyVersion, replayed: false });
    });
  }

  /** Re-encrypts ciphertexts of any kept version under the current version; no new version. */
  async rewrap(userId: string, items: string[]): Promise<string[]> {
    const { ciphertexts } = await this.reencryption.reencrypt(userId, this.reencryption.parseList('data', items), {
      userId,
      key: () => this.keyMaterial.currentPublicKey(userId),
    });
    return ciphertexts;
  }

  /** The answer kept for this request, when there is one and the body is the same; KEY004 when it differs. */
  private async replay(request: RotationRequestKey, requestSha256: string): Promise<(RotationResult & AnsweredWithoutAuditEvent) | null> {
    const kept = await this.rotations.keptResultOnPrimary(request);
    if (!kept) return null;
    if (kept.requestSha256 !== requestSha256) {
      throw new ApiError(
        'KEY004',
        `X-Request-Id ${request.requestId} already answered a /rotate of user ${request.userId} with another body; use a new X-Request-Id for a new rotation`,
      );
    }
    return answer({ rotatedData: kept.rotatedData, keyVersion: kept.keyVersion, replayed: true });
  }

  /** KEY003 once MANUAL_ROTATIONS_PER_DAY rotations of the user by /rotate fall in the past 24 hours. */
  private async requireRotationAllowance(userId: string): Promise<void> {
    const { count, retryAfterSeconds } = await this.rotations.manualRotationsInLastDay(userId, MANUAL_ROTATIONS_PER_DAY);
    if (count < MANUAL_ROTATIONS_PER_DAY) return;
    throw new ApiError(
      'KEY003',
      `User ${userId}'s key was rotated ${MANUAL_ROTATIONS_PER_DAY} times by /rotate in the past 24 hours; the next rotation is possible in ${retryAfterSeconds} s`,
      { headers: { 'Retry-After': String(retryAfterSeconds) } },
    );
  }
}

/** A committed rotation's answer, which the audit interceptor gives with auditEventStored: false when its event is not stored. */
function answer(result: Omit<RotationResult, 'auditEventStored'>): RotationResult & AnsweredWithoutAuditEvent {
  return {
    ...result,
    auditEventStored: true,
    [ANSWER_WITHOUT_AUDIT_EVENT]: () => ({ ...result, auditEventStored: false }),
  };
}

/** SHA-256 (hex) of the RFC 8785 canonical JSON of a request: the same JSON value, whatever its key order, hashes the same. */
function sha256Of(request: { userId: string; data: unknown; reason: RotationReason }): string {
  return createHash('sha256').update(canonicalize(request)!, 'utf8').digest('hex');
}
