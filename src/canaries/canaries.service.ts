import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiError, keyNotFound, keyPendingDeletion } from '../common/api-error';
import { isUuid } from '../common/uuid';
import { CanaryRegistry } from '../crypto/canary-registry.service';
import { encryptFor, parseAnyCiphertext, publishedPublicKey, sharedKeyOf } from '../envelope/ciphertexts';
import { CurrentPublicKey, KeyMaterialService } from '../keys/key-material.service';
import { CanaryRepository, CanaryRow } from '../repositories/canary.repository';
import { UserKeyRepository } from '../repositories/user-key.repository';
import { decoyValue, DecoyField, DEFAULT_DECOY_FIELDS } from './decoy-fields';
import { CanaryView, CreatedCanary } from './dto/canary.dto';

/** What POST /canaries plants: `count` rows of `fields` for `userId`, under `keyVersion` (default: the current one). */
export interface CanaryRequest {
  userId: string;
  count: number;
  fields?: readonly DecoyField[];
  keyVersion?: number;
  label: string | null;
  createdBy: string;
}

const view = (row: CanaryRow): CanaryView => ({
  id: row.id,
  userId: row.userId,
  label: row.label,
  createdBy: row.createdBy,
  createdAt: row.createdAt.toISOString(),
  keyVersion: row.keyVersion,
  fields: row.fields as CanaryView['fields'],
});

/**
 * Canary rows: decoy fields encrypted together under a real user's key, one data key per row as
 * /encrypt does for a real row, so that the row's ciphertexts share their wrapped key and nothing
 * else sets them apart; recognised by that wrapped key (CanaryRegistry).
 */
@Injectable()
export class CanariesService {
  constructor(
    private readonly keyMaterial: KeyMaterialService,
    private readonly userKeys: UserKeyRepository,
    private readonly canaries: CanaryRepository,
    private readonly registry: CanaryRegistry,
  ) {}

  /** KEY001 when the user has no key; CANARY002 when `keyVersion` is not one whose keys are still held. */
  async create(request: CanaryRequest): Promise<CreatedCanary[]> {
    const { userId, count, label, createdBy } = request;
    const fields = request.fields ?? DEFAULT_DECOY_FIELDS;
    const recipient = { userId, ...(await this.recipientKey(userId, request.keyVersion)) };
    const planted = Array.from({ length: count }, () => {
      // One call per row: one fresh data key for the row's fields, wrapped (ek1) or encapsulated (ek2) once, as /encrypt does.
      const ciphertexts = encryptFor(
        fields.map((field) => decoyValue(field)),
        recipient,
      );
      return { id: randomUUID(), ciphertexts };
    });
    const rows = await this.canaries.insert(
      planted.map(({ id, ciphertexts }) => ({
        id,
        userId,
        // ek1's wrapped data key, ek2's encapsulation: what the row's fields share.
        wrappedKey: sharedKeyOf(parseAnyCiphertext(ciphertexts[0])),
        label,
        createdBy,
        keyVersion: recipient.keyVersion,
        fields: fields.map(({ shape, length, template }) => ({
          shape,
          ...(length !== undefined && { length }),
          ...(template !== undefined && { template }),
        })),
      })),
    );
    await this.registry.refresh();
    return rows.map((row, index) => ({ ...view(row), ciphertexts: planted[index].ciphertexts, ciphertext: planted[index].ciphertexts[0] }));
  }

  /**
   * The public key to encrypt under: the current one (from the cache) by default; else the asked
   * version's, read on the primary, when it is current or a retired version whose private key is
   * still held (not purged, not destroyed), so that the canary can be decrypted — and trips — like
   * the real rows of that version.
   */
  private async recipientKey(userId: string, keyVersion?: number): Promise<CurrentPublicKey> {
    if (keyVersion === undefined) return this.keyMaterial.currentPublicKey(userId);
    const described = await this.userKeys.describe(userId, { from: 'primary' });
    if (!described) throw keyNotFound(userId);
    if (described.key.destroysAt) throw keyPendingDeletion(userId, described.key.destroysAt);
    const version =
      described.key.keyVersion === keyVersion ? described.key : described.history.find((retired) => retired.keyVersion === keyVersion);
    if (!version?.publicKey) {
      throw new ApiError(
        'CANARY002',
        `User ${userId} has no key version ${keyVersion} whose keys are still held (current: ${described.key.keyVersion})`,
      );
    }
    return { keyVersion, ...publishedPublicKey(version.algorithm, version.publicKey) };
  }

  async list(): Promise<CanaryView[]> {
    return (await this.canaries.listLiveOnPrimary()).map(view);
  }

  /** CANARY001 when no live canary has this id (any text that is not a UUID names none). */
  async retire(id: string): Promise<{ id: string; retired: true }> {
    if (!isUuid(id) || !(await this.canaries.retire(id))) throw new ApiError('CANARY001', 'No live canary has this id');
    await this.registry.refresh();
    return { id, retired: true };
  }
}
