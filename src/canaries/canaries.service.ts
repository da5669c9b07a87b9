import { Injectable } from '@nestjs/common';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { ApiError } from '../common/api-error';
import { isUuid } from '../common/uuid';
import { CanaryRegistry } from '../crypto/canary-registry.service';
import { CryptoService } from '../crypto/crypto.service';
import { parseCiphertext } from '../envelope/ciphertext-format';
import { CanaryRepository, CanaryRow } from '../repositories/canary.repository';
import { CanaryView, CreatedCanary } from './dto/canary.dto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ';

/** A plaintext nobody will ever read: random text of an ordinary field's length, so the ciphertext's length says nothing. */
function decoyPlaintext(): string {
  const bytes = randomBytes(randomInt(8, 33));
  return Array.from(bytes, (byte) => ALPHABET[byte % ALPHABET.length]).join('');
}

const view = (row: CanaryRow): CanaryView => ({
  id: row.id,
  userId: row.userId,
  label: row.label,
  createdBy: row.createdBy,
  createdAt: row.createdAt.toISOString(),
});

/** Canary ciphertexts: created under a real user's key, one data key each, recognised by it. */
@Injectable()
export class CanariesService {
  constructor(
    private readonly crypto: CryptoService,
    private readonly canaries: CanaryRepository,
    private readonly registry: CanaryRegistry,
  ) {}

  /** KEY001 when the user has no key. Each canary is encrypted alone, so its wrapped data key is its own. */
  async create(userId: string, count: number, label: string | null, createdBy: string): Promise<CreatedCanary[]> {
    const ciphertexts: string[] = [];
    for (let i = 0; i < count; i++) ciphertexts.push(...(await this.crypto.encrypt(userId, [decoyPlaintext()])));
    const rows = await this.canaries.insert(
      ciphertexts.map((ciphertext) => ({ id: randomUUID(), userId, wrappedKey: parseCiphertext(ciphertext).wrappedKey, label, createdBy })),
    );
    await this.registry.refresh();
    return rows.map((row, index) => ({ ...view(row), ciphertext: ciphertexts[index] }));
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
