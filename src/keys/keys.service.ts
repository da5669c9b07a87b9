import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { keyNotFound } from '../common/api-error';
import { RotationRepository } from '../repositories/rotation.repository';
import { rotationConflict, UserKeyRepository } from '../repositories/user-key.repository';
import { UserKey } from './entities/user-key.entity';
import { RotationReason, UserKeyHistory } from './entities/user-key-history.entity';
import { KeyMaterialService, PreparedKey } from './key-material.service';

export interface ShredReceipt {
  userId: string;
  versionsDestroyed: number;
  destroyedAt: string;
}

/** The life of users' keys: creation, description, rotation and crypto-shredding. */
@Injectable()
export class KeysService {
  constructor(
    private readonly keys: UserKeyRepository,
    private readonly rotations: RotationRepository,
    private readonly material: KeyMaterialService,
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
   */
  async destroyKeys(userId: string): Promise<ShredReceipt> {
    const versionsDestroyed = await this.keys.destroy(userId);
    await this.material.forgetPublicKey(userId);
    return { userId, versionsDestroyed, destroyedAt: new Date().toISOString() };
  }
}
