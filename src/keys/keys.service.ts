import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiError, dependencyUnavailable, keyNotFound, keyPendingDeletion } from '../common/api-error';
import { AuditEventReference, COMPLETE_WITH_AUDIT_EVENT, CompletedWithAuditEvent } from '../common/audit-vocabulary';
import { failpoint } from '../common/failpoints';
import { ROTATION_LEASE_SECONDS, RotationRepository } from '../repositories/rotation.repository';
import {
  receiptIdOf,
  SHRED_LOG,
  ShredAborted,
  ShredCancelled,
  ShredDestroyed,
  shredIdOf,
  ShredIntent,
  ShredLog,
  ShredScheduled,
} from '../shred-log/shred-log';
import { AppConfig } from '../config/app-config';
import { loggedShred, shredDestroying } from '../shred-log/shred-outcome';
import { SHRED_REPLAY_OVERLAP_MS } from '../common/limits';
import { rotationConflict, UserKeyRepository, VersionsPage } from '../repositories/user-key.repository';
import { UserKey } from '../repositories/entities/user-key.entity';
import { UserKeyHistory } from '../repositories/entities/user-key-history.entity';
import { KeyMaterialService } from './key-material.service';
import type { ShredBreaker } from './shred-breaker.service';
import { ReceiptSigner } from './receipt-signer.service';

/** The answer to a crypto-shred: what was destroyed, and the signed receipt that proves it. */
export interface ShredReceipt {
  userId: string;
  versionsDestroyed: number;
  destroyedAt: string;
  /** Compact JWS over {@link ShredReceiptPayload}. */
  receipt: string;
}

/** What a receipt says (docs/compliance.md). The order of the fields is the order signed. */
export interface ShredReceiptPayload {
  typ: 'crypto-shred';
  userId: string;
  destroyedAt: string;
  versions: Array<{ keyVersion: number; sealedPrivateKeySha256: string }>;
  /** The `key.delete` success event recording the shredding; null only if it was lost under AUDIT_FAIL_OPEN=true. */
  auditEvent: AuditEventReference | null;
}

/** The answer to a DELETE within the deletion window: the keys are pending deletion, destroyed at `destroysAt` unless cancelled. */
export interface PendingDeletionAnswer {
  userId: string;
  state: 'pending-deletion';
  keyVersion: number;
  deletionRequestedAt: string;
  destroysAt: string;
}

/** The answer to a cancellation: whether a pending deletion was lifted (false: none was pending). */
export interface CancelDeletionAnswer {
  userId: string;
  keyVersion: number;
  cancelled: boolean;
}

/** The life of users' keys: creation, description, rotation and crypto-shredding. */
@Injectable()
export class KeysService {
  private readonly logger = new Logger('KeysService');

  constructor(
    private readonly keys: UserKeyRepository,
    private readonly rotations: RotationRepository,
    private readonly material: KeyMaterialService,
    private readonly receipts: ReceiptSigner,
    @Inject(SHRED_LOG) private readonly shredLog: ShredLog,
    private readonly config: AppConfig,
  ) {}

  /**
   * Creates the user's key pair unless they already have an active one. Concurrent calls for
   * one user race on the primary key: exactly one insert wins, the others report its key. A
   * re-creation after a crypto-shred evicts the user's cached public key on every replica (a
   * first key has nothing cached to evict), so none keeps encrypting under the destroyed version.
   */
  async createKey(userId: string): Promise<{ created: boolean; keyVersion: number }> {
    const existing = await this.keys.findOnPrimary(userId);
    if (existing?.isActive && existing.destroysAt) throw keyPendingDeletion(userId, existing.destroysAt);
    if (existing?.isActive) return { created: false, keyVersion: existing.keyVersion };

    // After a crypto-shred the row stays as a tombstone, so new versions never reuse old numbers.
    const keyVersion = existing ? existing.keyVersion + 1 : 1;
    const prepared = await this.material.prepareKey(userId, keyVersion);
    failpoint('create.after-keygen');
    const written = existing ? await this.keys.recreateAfterShred(userId, prepared) : await this.keys.insertFirst(userId, prepared);
    if (written && existing) await this.material.forgetPublicKey(userId);
    if (written) failpoint('create.after-commit');
    if (written) return { created: true, keyVersion };

    const winner = await this.keys.findActive(userId, { from: 'primary' });
    if (!winner) return this.createKey(userId);
    return { created: false, keyVersion: winner.keyVersion };
  }

  /**
   * The active key row with a page of its retired versions (`page`; all without it), newest
   * first, and whether older ones remain; KEY001 when there is none. Key
   * metadata tolerates a replica's lag (a key the replica has not seen yet is found on the primary).
   */
  async describeKey(userId: string, page?: VersionsPage): Promise<{ key: UserKey; history: UserKeyHistory[]; more: boolean }> {
    const described = await this.keys.describe(userId, { from: 'replica', page });
    if (!described) throw keyNotFound(userId);
    if (described.key.destroysAt) throw keyPendingDeletion(userId, described.key.destroysAt);
    return described;
  }

  /**
   * Runs `work(currentVersion)` while holding the user's rotation lease, so a second rotation
   * of the same user gets KEY002 at once instead of queueing. The lease is a row claim, not a
   * held connection, and expires by itself if this process dies mid-rotation.
   *
   * Releasing the lease cannot change the outcome of `work`: a release that fails is logged,
   * and the lease expires by itself within ROTATION_LEASE_SECONDS (a committed rotation is
   * answered as one; a failed one keeps its own error).
   */
  async withRotationLease<T>(userId: string, work: (currentVersion: number) => Promise<T>): Promise<T> {
    const leaseId = randomUUID();
    const currentVersion = await this.rotations.claimLease(userId, leaseId);
    if (currentVersion === null) {
      const key = await this.keys.findActive(userId, { from: 'primary' });
      if (!key) throw keyNotFound(userId);
      if (key.destroysAt) throw keyPendingDeletion(userId, key.destroysAt);
      throw rotationConflict(userId);
    }
    try {
      return await work(currentVersion);
    } finally {
      await this.rotations
        .releaseLease(userId, leaseId)
        .catch((error: unknown) =>
          this.logger.warn(
            `The rotation lease of user ${userId} was not released (${describe(error)}); it expires by itself within ${ROTATION_LEASE_SECONDS} s`,
          ),
        );
    }
  }

  /**
   * Scheduled rotation of one key whose current version was created at or before `cutoff`;
   * replicas running the job at once never rotate the same key. Returns null when none is due.
   */
  async rotateNextDueKey(cutoff: Date): Promise<{ userId: string; keyVersion: number } | null> {
    const rotated = await this.rotations.rotateNextDue(cutoff, 'scheduled', (userId, keyVersion) =>
      this.material.prepareKey(userId, keyVersion),
    );
    if (rotated) await this.material.forgetPublicKey(rotated.userId);
    return rotated;
  }

  /**
   * Crypto-shredding: destroys the sealed private key of every version, current and retired,
   * so no ciphertext of the user can ever be decrypted again. The row stays as a tombstone
   * (inactive, no key material) so a later key for the user starts at a higher version.
   *
   * The shred log outside this database (so that a restore cannot undo a shred) records it as
   * intent, then commit (src/shred-log/shred-log.ts has the states):
   * 1. an `intent` naming the current key generation, before the transaction: when it cannot be
   *    written, 503 SYS002 and nothing happens;
   * 2. the transaction destroys exactly that generation (compare-and-destroy) and keeps, with the
   *    tombstone in the same commit, a receipt signed there (no audit event yet), so a repeated
   *    DELETE answers with a receipt even when nothing after the commit succeeds;
   * 3. `destroyed` after the commit. When the transaction fails, the database decides: the key
   *    still there → `aborted` and an error (the key stays usable, after any restart too); gone
   *    (the commit went through, its answer was lost) → the shred is done and answered as such.
   *    A record that cannot be written here is settled by the next replay the same way.
   *
   * The answer is completed by the audit interceptor once the `key.delete` event is stored: the
   * receipt then names that event, replaces the one kept with the tombstone, and is added to
   * the log (a `receipt` record). A repeated DELETE of a user whose keys are already shredded
   * answers with the kept receipt, unchanged, checked against the shred log (keptReceipt; KEY001
   * when none was kept: never shredded, or shredded before receipts existed).
   *
   * With `breaker` (DELETE /keys passes it; a scheduled destruction does not), the transaction
   * first asks the mass-destruction breaker (ShredBreaker): beyond SHRED_MAX_PER_HOUR shreds in
   * the sliding hour, across all replicas, nothing is destroyed, the intent is aborted and the
   * answer is 429 SHRED001 until two people lift it.
   *
   * With `scheduled` (the scheduled destruction job, ScheduledDestructionJob), only a key pending
   * deletion whose window has ended is destroyed, whatever the breaker says (already decided): a
   * deletion cancelled since the job picked the key destroys nothing, the intent is aborted and
   * the answer is null.
   */
  async destroyKeys(userId: string, options?: { breaker?: ShredBreaker }): Promise<ShredAnswer>;
  async destroyKeys(userId: string, options: { scheduled: true }): Promise<ShredAnswer | null>;
  async destroyKeys(
    userId: string,
    { breaker, scheduled = false }: { breaker?: ShredBreaker; scheduled?: boolean } = {},
  ): Promise<ShredAnswer | null> {
    const generation = await this.keys.currentGenerationOnPrimary(userId);
    if (!generation) return this.keptReceipt(userId);
    // The signing key is looked up (and unsealed) now: the transaction signs without the database.
    const sign = await this.receipts.prepare();
    const destroyedAt = new Date().toISOString();
    const intent: ShredIntent = {
      typ: 'crypto-shred',
      state: 'intent',
      userId,
      keyVersion: generation.keyVersion,
      keyCreatedAt: generation.createdAt,
      at: destroyedAt,
    };
    const shredId = shredIdOf(intent);
    try {
      await this.shredLog.append(intent);
    } catch (error) {
      this.logger.error(
        `Crypto-shred of user ${userId} refused: the shred log (${this.shredLog.location}) cannot be written (${describe(error)})`,
      );
      throw dependencyUnavailable('The shred log', error);
    }

    failpoint('destroy.after-intent');
    let signed: { payload: ShredReceiptPayload; receipt: string } | undefined;
    try {
      const destroyed = await this.keys.destroy(userId, {
        generation,
        onlyIfDue: scheduled,
        breaker: breaker && { maxPerHour: breaker.maxPerHour },
        receipt: async (versions) => {
          const payload: ShredReceiptPayload = {
            typ: 'crypto-shred',
            userId,
            destroyedAt,
            versions: versions.map((v) => ({ keyVersion: v.keyVersion, sealedPrivateKeySha256: v.sealedKeySha256 })),
            auditEvent: null,
          };
          signed = { payload, receipt: await sign({ ...payload }) };
          return signed.receipt;
        },
      });
      if (destroyed && 'refused' in destroyed) throw breaker!.refusal(userId, destroyed);
      if (!destroyed && scheduled) {
        await this.abortShred(intent, shredId, 'no longer pending deletion when the transaction ran (cancelled, or another key)');
        return null;
      }
      // Another generation is current now (a rotation finished since it was looked up): nothing destroyed.
      if (!destroyed) throw rotationConflict(userId);
      failpoint('destroy.after-commit');
    } catch (error) {
      // Refused before anything was written: the key row was gone, locked or another generation.
      if (error instanceof ApiError && error.code === 'KEY001') {
        await this.abortShred(intent, shredId, 'no active key when the transaction ran (shredded meanwhile)');
        return this.keptReceipt(userId);
      }
      if (error instanceof ApiError && error.code === 'SHRED001') {
        await this.abortShred(intent, shredId, 'refused by the mass-destruction breaker (SHRED_MAX_PER_HOUR)');
        throw error;
      }
      if (error instanceof ApiError && error.code === 'KEY002') {
        await this.abortShred(intent, shredId, 'the key was being rotated, or had been, when the transaction ran');
        throw error;
      }
      if (!(await this.committedDespite(intent, shredId, signed !== undefined, error))) {
        throw error instanceof ApiError
          ? error
          : new ApiError('SYS002', 'The key database did not commit the crypto-shred: the key is intact; try again later', {
              cause: error,
            });
      }
    }

    const { payload, receipt: keptReceipt } = signed!;
    const record = (receipt: string | null): ShredDestroyed => ({
      typ: 'crypto-shred',
      state: 'destroyed',
      userId,
      keyVersions: payload.versions.map((v) => v.keyVersion),
      destroyedAt,
      receipt,
      receiptId: receipt ? receiptIdOf(receipt) : null,
    });
    await this.shredLog
      .append(record(keptReceipt))
      .catch((error: unknown) =>
        this.logger.warn(
          `The shred log's destroyed record of user ${userId} was not written (${describe(error)}); the next replay writes it from the database`,
        ),
      );
    await this.material.forgetPublicKey(userId);
    failpoint('destroy.after-log');
    const answer = { userId, versionsDestroyed: payload.versions.length, destroyedAt };
    return {
      ...answer,
      [COMPLETE_WITH_AUDIT_EVENT]: async (auditEvent: AuditEventReference | null): Promise<ShredReceipt> => {
        // Without an event (lost under AUDIT_FAIL_OPEN=true) the receipt signed in the transaction says the same.
        if (!auditEvent) return { ...answer, receipt: keptReceipt };
        const receipt = await this.receipts.sign({ ...payload, auditEvent });
        await this.keys.replaceShredReceipt(userId, generation.keyVersion, keptReceipt, receipt);
        await this.shredLog
          .append({ typ: 'crypto-shred', state: 'receipt', userId, receipt, receiptId: receiptIdOf(receipt) }, shredId)
          .catch((error: unknown) =>
            this.logger.warn(
              `The shred log was not given the receipt of user ${userId} naming its audit event (${describe(error)}); after a restore a repeated DELETE answers the one signed in the transaction`,
            ),
          );
        return { ...answer, receipt };
      },
    };
  }

  /**
   * DELETE /keys: with SHRED_PENDING_DAYS > 0 (the default, 7), the keys are put into pending
   * deletion rather than destroyed (docs/compliance.md, "The deletion window"): the database
   * commits `destroys_at` (every use of the keys is refused with KEY005 from then on, on every
   * replica: the paths that use a key read it with the key row on the primary, and the public key
   * is evicted everywhere), then the shred log records it as `scheduled`, so a restore cannot undo
   * it. A log that cannot be written lifts the pending deletion again and answers 503 SYS002. The
   * scheduled job destroys the keys once the window has ended, with the receipt.
   *
   * A repeated DELETE while pending answers the same pending deletion (the window does not
   * restart); once destroyed, the receipt (as {@link destroyKeys} answers it). KEY002 while a
   * rotation holds the key; 429 SHRED001 when the mass-destruction breaker refuses the request
   * (`breaker`: new DELETE requests pass it, destructions already scheduled do not).
   * With SHRED_PENDING_DAYS=0 there is no window: the keys are destroyed at once (destroyKeys).
   */
  async requestDeletion(userId: string, { breaker }: { breaker?: ShredBreaker } = {}): Promise<ShredAnswer | PendingDeletionAnswer> {
    const days = this.config.shredSchedule.pendingDays;
    if (days === 0) return this.destroyKeys(userId, { breaker });
    const scheduled = await this.keys.scheduleDestruction(userId, { days, breaker: breaker && { maxPerHour: breaker.maxPerHour } });
    if (!scheduled) return this.keptReceipt(userId);
    if ('refused' in scheduled) throw breaker!.refusal(userId, scheduled);
    const answer: PendingDeletionAnswer = {
      userId,
      state: 'pending-deletion',
      keyVersion: scheduled.keyVersion,
      deletionRequestedAt: scheduled.requestedAt.toISOString(),
      destroysAt: scheduled.destroysAt.toISOString(),
    };
    if (scheduled.already) return answer;
    // Committed: no replica may use the key from now on, so its cached public key goes at once.
    await this.material.forgetPublicKey(userId);
    const record: ShredScheduled = {
      typ: 'crypto-shred',
      state: 'scheduled',
      userId,
      keyVersion: scheduled.keyVersion,
      keyCreatedAt: scheduled.createdAt,
      at: answer.deletionRequestedAt,
      destroysAt: answer.destroysAt,
    };
    try {
      await this.shredLog.append(record);
    } catch (error) {
      this.logger.error(
        `Deletion of user ${userId} refused: the shred log (${this.shredLog.location}) cannot be written (${describe(error)}); the pending deletion is lifted`,
      );
      await this.keys
        .liftPendingDeletion(userId, scheduled.destroysAt)
        .catch((liftError: unknown) =>
          this.logger.error(
            `User ${userId} stays pending deletion without a shred log record (${describe(liftError)}): cancel it (POST /keys/${userId}/cancel-deletion) or DELETE again`,
          ),
        );
      throw dependencyUnavailable('The shred log', error);
    }
    this.logger.log(`User ${userId}: keys pending deletion, destroyed at ${answer.destroysAt} unless cancelled`);
    return answer;
  }

  /**
   * POST /keys/{userId}/cancel-deletion: lifts the user's pending deletion, so their keys (and
   * every ciphertext under them) are usable again. The shred log records the cancellation first
   * (`cancelled`, so that a restore from before it cannot bring the pending deletion back and have
   * the keys destroyed): a log that cannot be written changes nothing and answers 503 SYS002.
   * Nothing pending: `cancelled: false`. KEY001 without an active key (never created, or
   * destroyed already: too late to cancel).
   */
  async cancelDeletion(userId: string): Promise<CancelDeletionAnswer> {
    const state = await this.keys.deletionStateOnPrimary(userId);
    if (!state) throw keyNotFound(userId);
    if (!state.pending) return { userId, keyVersion: state.keyVersion, cancelled: false };
    const { requestedAt, destroysAt } = state.pending;
    const record: ShredCancelled = {
      typ: 'crypto-shred',
      state: 'cancelled',
      userId,
      keyVersion: state.keyVersion,
      cancelledAt: new Date().toISOString(),
      scheduledShredId: shredIdOf({ at: requestedAt.toISOString(), userId, keyVersion: state.keyVersion }),
      destroysAt: destroysAt.toISOString(),
    };
    try {
      await this.shredLog.append(record);
    } catch (error) {
      this.logger.error(`Cancellation of the deletion of user ${userId} refused: the shred log cannot be written (${describe(error)})`);
      throw dependencyUnavailable('The shred log', error);
    }
    if (!(await this.keys.liftPendingDeletion(userId, destroysAt))) {
      // Lifted meanwhile by another cancellation, or destroyed by the job just before.
      const now = await this.keys.deletionStateOnPrimary(userId);
      if (!now) throw new ApiError('KEY001', `The keys of user ${userId} were destroyed before the cancellation`);
      return { userId, keyVersion: now.keyVersion, cancelled: !now.pending };
    }
    this.logger.log(`User ${userId}: pending deletion (destroying at ${record.destroysAt}) cancelled; the keys are usable again`);
    return { userId, keyVersion: state.keyVersion, cancelled: true };
  }

  /**
   * The answer to a DELETE of a user without an active key: the receipt of their shred, checked
   * against the shred log, which outlives the database (docs/operations.md 2.4):
   * - the log records that the shred the kept receipt is about committed: its receipt as the log
   *   holds it (the one naming the `key.delete` event, which a restore may have taken from the
   *   database), else the kept one;
   * - the log records it aborted, and nothing says it committed: no receipt is answered (KEY001),
   *   and the disagreement is logged as an error;
   * - an intent only (the database shows it committed) or no record (a shred older than the log):
   *   the kept receipt.
   * With no receipt kept (the database lost it: a restore, a replay stopped before storing it),
   * the logged shred that destroyed the tombstone's version, written within a day of the
   * tombstone, answers with its receipt, which is put back on the tombstone. KEY001 when neither
   * has one. A log out of reach answers 503 SYS002: a receipt is never answered unchecked.
   */
  private async keptReceipt(userId: string): Promise<ShredReceipt> {
    const kept = await this.keys.shredReceiptOnPrimary(userId);
    if (kept) {
      const { destroyedAt, versions } = ReceiptSigner.payloadOf(kept) as unknown as ShredReceiptPayload;
      const shredId = shredIdOf({ at: destroyedAt, userId, keyVersion: Math.max(...versions.map((v) => v.keyVersion)) });
      const logged = await this.fromShredLog(() => loggedShred(this.shredLog, shredId));
      if (logged.outcome === 'aborted') {
        this.logger.error(
          `User ${userId}: the database keeps a receipt of the crypto-shred ${shredId}, which the shred log records as aborted; no receipt answered`,
        );
        throw keyNotFound(userId);
      }
      return answerOf(logged.receipt ?? kept);
    }
    const tombstone = await this.keys.findOnPrimary(userId);
    if (!tombstone || tombstone.isActive) throw keyNotFound(userId);
    const logged = await this.fromShredLog(async () => {
      const shredId = await shredDestroying(this.shredLog, {
        userId,
        keyVersion: tombstone.keyVersion,
        around: tombstone.updatedAt,
        marginMs: SHRED_REPLAY_OVERLAP_MS,
      });
      return shredId ? loggedShred(this.shredLog, shredId) : undefined;
    });
    if (logged?.outcome !== 'destroyed' || !logged.receipt) throw keyNotFound(userId);
    await this.keys
      .storeShredReceipt(userId, tombstone.keyVersion, logged.receipt)
      .catch((error: unknown) =>
        this.logger.warn(`The receipt of user ${userId} found in the shred log was not put back on the tombstone (${describe(error)})`),
      );
    return answerOf(logged.receipt);
  }

  /** Reads the shred log for a DELETE: a log that cannot be read answers 503 SYS002. */
  private async fromShredLog<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      this.logger.error(`The shred log (${this.shredLog.location}) cannot be read to answer a repeated DELETE (${describe(error)})`);
      throw dependencyUnavailable('The shred log', error);
    }
  }

  /**
   * After the destroying transaction failed: whether it committed all the same (its answer was
   * lost), as the database says. Settles the intent accordingly (`aborted` here; `destroyed` is
   * written by the caller); when the database cannot be asked, the intent stays for the replay.
   */
  private async committedDespite(intent: ShredIntent, shredId: string, reachedCommit: boolean, error: unknown): Promise<boolean> {
    const { userId } = intent;
    if (reachedCommit) {
      let state: 'kept' | 'gone' | 'busy';
      try {
        state = await this.keys.generationOnPrimary(userId, intent.keyVersion, intent.keyCreatedAt);
      } catch (checkError) {
        state = 'busy';
        error = new Error(`${describe(error)}; asking the database failed too: ${describe(checkError)}`, { cause: error });
      }
      if (state === 'busy') {
        this.logger.error(
          `Crypto-shred of user ${userId} failed (${describe(error)}) and the key database cannot say now whether it committed; the shred log's intent ${shredId} is settled by the next replay`,
        );
        throw dependencyUnavailable('The key database', error);
      }
      if (state === 'gone') {
        this.logger.warn(`Crypto-shred of user ${userId}: the commit answered ${describe(error)}, yet the database holds it committed`);
        return true;
      }
    }
    this.logger.error(`Crypto-shred of user ${userId} failed, nothing destroyed (${describe(error)})`);
    await this.abortShred(intent, shredId, 'the transaction did not commit');
    return false;
  }

  /** Records that the shred of `intent` did not happen (best effort: the replay settles an intent left open the same way). */
  private async abortShred(intent: ShredIntent, shredId: string, reason: string): Promise<void> {
    const aborted: ShredAborted = {
      typ: 'crypto-shred',
      state: 'aborted',
      userId: intent.userId,
      keyVersion: intent.keyVersion,
      abortedAt: new Date().toISOString(),
      reason,
    };
    await this.shredLog
      .append(aborted, shredId)
      .catch((error: unknown) =>
        this.logger.warn(
          `The shred log's aborted record ${shredId} was not written (${describe(error)}); the next replay settles the intent from the database`,
        ),
      );
  }
}

/** A crypto-shred's answer: the receipt, or (for the audit interceptor to complete) what was destroyed. */
export type ShredAnswer = ShredReceipt | (Omit<ShredReceipt, 'receipt'> & CompletedWithAuditEvent);

/** An error's name and message for a log line (file-system and S3 errors name paths and buckets, never data). */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The answer a receipt was given with, rebuilt from its payload (so a repeat is byte-identical). */
function answerOf(receipt: string): ShredReceipt {
  const payload = ReceiptSigner.payloadOf(receipt) as unknown as ShredReceiptPayload;
  return { userId: payload.userId, versionsDestroyed: payload.versions.length, destroyedAt: payload.destroyedAt, receipt };
}
