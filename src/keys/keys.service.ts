import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiError, dependencyUnavailable, keyNotFound } from '../common/api-error';
import { AuditEventReference, COMPLETE_WITH_AUDIT_EVENT, CompletedWithAuditEvent } from '../common/audit-vocabulary';
import { RotationRepository } from '../repositories/rotation.repository';
import { receiptIdOf, SHRED_LOG, ShredLog, ShredLogEntry } from '../shred-log/shred-log';
import { DestroyedVersion, rotationConflict, UserKeyRepository } from '../repositories/user-key.repository';
import { UserKey } from './entities/user-key.entity';
import { RotationReason, UserKeyHistory } from './entities/user-key-history.entity';
import { KeyMaterialService, PreparedKey } from './key-material.service';
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
  ) {}

  /**
   * Creates the user's key pair unless they already have an active one. Concurrent calls for
   * one user race on the primary key: exactly one insert wins, the others report its key.
   */
  async createKey(userId: string): Promise<{ created: boolean; keyVersion: number }> {
    const existing = await this.keys.findOnPrimary(userId);
    if (existing?.isActive) return { created: false, keyVersion: existing.keyVersion };

    // After a crypto-shred the row stays as a tombstone, so new versions never reuse old numbers.
    const keyVersion = existing ? existing.keyVersion + 1 : 1;
    const prepared = await this.material.prepareKey(userId, keyVersion);
    const written = existing ? await this.keys.recreateAfterShred(userId, prepared) : await this.keys.insertFirst(userId, prepared);
    if (written) return { created: true, keyVersion };

    const winner = await this.keys.findActive(userId, { from: 'primary' });
    if (!winner) return this.createKey(userId);
    return { created: false, keyVersion: winner.keyVersion };
  }

  /**
   * The active key row with its retired versions, newest first; KEY001 when there is none. Key
   * metadata tolerates a replica's lag (a key the replica has not seen yet is found on the primary).
   */
  async describeKey(userId: string): Promise<{ key: UserKey; history: UserKeyHistory[] }> {
    const described = await this.keys.describe(userId, { from: 'replica' });
    if (!described) throw keyNotFound(userId);
    return described;
  }

  /**
   * Runs `work(currentVersion)` while holding the user's rotation lease, so a second rotation
   * of the same user gets KEY002 at once instead of queueing. The lease is a row claim, not a
   * held connection, and expires by itself if this process dies mid-rotation.
   */
  async withRotationLease<T>(userId: string, work: (currentVersion: number) => Promise<T>): Promise<T> {
    const leaseId = randomUUID();
    const currentVersion = await this.rotations.claimLease(userId, leaseId);
    if (currentVersion === null) {
      if (!(await this.keys.findActive(userId, { from: 'primary' }))) throw keyNotFound(userId);
      throw rotationConflict(userId);
    }
    try {
      return await work(currentVersion);
    } finally {
      await this.rotations.releaseLease(userId, leaseId);
    }
  }

  /**
   * Makes `next` the current key and moves version `fromVersion` into history, in one
   * transaction. KEY002 when the current version is no longer `fromVersion` or its row is
   * locked by another rotation: nothing is written then.
   */
  async replaceCurrentKey(userId: string, fromVersion: number, next: PreparedKey, reason: RotationReason): Promise<void> {
    await this.keys.replaceCurrentKey(userId, fromVersion, next, reason);
    await this.material.forgetPublicKey(userId);
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
   * The answer is completed by the audit interceptor once the `key.delete` event is stored: the
   * receipt names that event, is signed, and is kept with the tombstone. A repeated DELETE of a
   * user whose keys are already shredded answers with the kept receipt, unchanged (KEY001 when
   * none was kept: never shredded, or shredded before receipts existed).
   *
   * Every shred is recorded in the shred log outside this database before it commits, so that a
   * restore of the database cannot undo it (the replay at start-up destroys the keys again). When
   * the log cannot be written the shred is refused with 503 SYS002 and the key is left intact:
   * an erasure is never confirmed that a restore could take back. Once the receipt is signed the
   * record is completed with it; if that second write fails the record without it still replays.
   */
  async destroyKeys(userId: string): Promise<ShredReceipt | (Omit<ShredReceipt, 'receipt'> & CompletedWithAuditEvent)> {
    let destroyed: DestroyedVersion[];
    const destroyedAt = new Date().toISOString();
    const record = (keyVersions: number[], receipt: string | null): ShredLogEntry => ({
      typ: 'crypto-shred',
      userId,
      keyVersions,
      destroyedAt,
      receipt,
      receiptId: receipt ? receiptIdOf(receipt) : null,
    });
    try {
      destroyed = await this.keys.destroy(userId, async (versions) => {
        try {
          await this.shredLog.append(
            record(
              versions.map((v) => v.keyVersion),
              null,
            ),
          );
        } catch (error) {
          this.logger.error(
            `Crypto-shred of user ${userId} refused: the shred log (${this.shredLog.location}) cannot be written (${describe(error)})`,
          );
          throw dependencyUnavailable('The shred log', error);
        }
      });
    } catch (error) {
      const kept = error instanceof ApiError && error.code === 'KEY001' ? await this.keys.shredReceiptOnPrimary(userId) : null;
      if (kept) return answerOf(kept);
      throw error;
    }
    await this.material.forgetPublicKey(userId);
    const versions = destroyed.map((v) => ({ keyVersion: v.keyVersion, sealedPrivateKeySha256: v.sealedKeySha256 }));
    const tombstoneVersion = Math.max(...versions.map((v) => v.keyVersion));
    const answer = { userId, versionsDestroyed: versions.length, destroyedAt };
    return {
      ...answer,
      [COMPLETE_WITH_AUDIT_EVENT]: async (auditEvent: AuditEventReference | null): Promise<ShredReceipt> => {
        const payload: ShredReceiptPayload = { typ: 'crypto-shred', userId, destroyedAt, versions, auditEvent };
        const receipt = await this.receipts.sign({ ...payload });
        await this.keys.storeShredReceipt(userId, tombstoneVersion, receipt);
        await this.shredLog
          .append(
            record(
              versions.map((v) => v.keyVersion),
              receipt,
            ),
          )
          .catch((error: unknown) =>
            this.logger.warn(
              `The shred log record of user ${userId} was not completed with its receipt (${describe(error)}); it replays without it`,
            ),
          );
        return { ...answer, receipt };
      },
    };
  }
}

/** An error's name and message for a log line (file-system and S3 errors name paths and buckets, never data). */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The answer a receipt was given with, rebuilt from its payload (so a repeat is byte-identical). */
function answerOf(receipt: string): ShredReceipt {
  const payload = ReceiptSigner.payloadOf(receipt) as unknown as ShredReceiptPayload;
  return { userId: payload.userId, versionsDestroyed: payload.versions.length, destroyedAt: payload.destroyedAt, receipt };
}
