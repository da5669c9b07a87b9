import { Global, Inject, Injectable, Logger, Module } from '@nestjs/common';
import { ChainCheckpoint } from '../audit/audit-chain';
import type { JSONWebKeySet } from 'jose';
import {
  AnchoredDigests,
  CHECKPOINT_ANCHOR,
  CHECKPOINT_JWS_TYPE,
  CheckpointAnchor,
  CheckpointDigest,
  digestName,
  nextDigest,
  verifyDigest,
} from '../audit/checkpoint-anchor';
import { ApiError } from '../common/api-error';
import { ShredLogModule } from '../shred-log/shred-log.module';
import { CHECKPOINT_DOCUMENTS, WriteOnceDocuments } from '../shred-log/write-once-documents';
import { KeysModule } from './keys.module';
import { ReceiptSigner } from './receipt-signer.service';

/** Attempts to write the next digest when other replicas keep writing it first. */
const WRITE_ATTEMPTS = 5;
/** Digests kept in memory once read and checked (they never change). */
const CACHED_DIGESTS = 32;

/**
 * The audit trail's checkpoint anchor (src/audit/checkpoint-anchor.ts): digests signed by the
 * receipt-signing key (JWS typ `audit-checkpoint+jws`, published at
 * /.well-known/receipt-keys.json) and written once to `checkpoints/` of the shred log's place.
 *
 * Digest n is written only after digest n−1 exists, conditionally (write-once): so the digests
 * are always 1…newest without a hole, two replicas never both write the same number (the one
 * that loses reads the newer digest and tries the next number), and the newest is found by
 * probing numbers — doubling from the newest this process saw, then halving — in a few reads,
 * without listing the store.
 */
@Injectable()
export class SignedCheckpointAnchor implements CheckpointAnchor {
  private readonly logger = new Logger('CheckpointAnchor');
  /** The greatest digest number this process saw: the newest is never below it (the store is write-once). */
  private seen = 0;
  private readonly cache = new Map<number, { digest: CheckpointDigest; jws: string }>();

  constructor(
    @Inject(CHECKPOINT_DOCUMENTS) private readonly store: WriteOnceDocuments,
    private readonly signer: ReceiptSigner,
  ) {}

  get location(): string {
    return this.store.location;
  }

  async reader(): Promise<AnchoredDigests> {
    const keys = await this.signer.jwks();
    return {
      newest: () => this.failingAsAudit003('read', async () => (await this.newestSigned(keys))?.digest),
      read: (number) => this.failingAsAudit003('read', async () => (await this.signed(number, keys))?.digest),
    };
  }

  async anchor(links: readonly ChainCheckpoint[], verifiedAt: Date): Promise<void> {
    await this.failingAsAudit003('write', async () => {
      const keys = await this.signer.jwks();
      for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
        const previous = await this.newestSigned(keys);
        const digest = nextDigest(previous, links, verifiedAt);
        if (!digest) return;
        const jws = await this.signer.sign({ ...digest }, CHECKPOINT_JWS_TYPE);
        if (await this.store.create(digestName(digest.number), jws)) {
          this.remember(digest, jws);
          return;
        }
        // Another replica wrote this number first: build on its digest.
      }
      throw new Error(`digest not written after ${WRITE_ATTEMPTS} attempts: other verifications kept writing first`);
    });
  }

  /** The newest digest: probe numbers upward from the greatest seen (doubling the step), then halve the gap. */
  private async newestSigned(keys: JSONWebKeySet): Promise<{ digest: CheckpointDigest; jws: string } | undefined> {
    let low = this.seen;
    let step = 1;
    while (await this.exists(low + step, keys)) {
      low += step;
      step *= 2;
    }
    let high = low + step;
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (await this.exists(middle, keys)) low = middle;
      else high = middle;
    }
    return low === 0 ? undefined : this.signed(low, keys);
  }

  private async exists(number: number, keys: JSONWebKeySet): Promise<boolean> {
    return this.cache.has(number) || (await this.signed(number, keys)) !== undefined;
  }

  /** Digest `number`, read and checked against the published receipt keys, once per process. */
  private async signed(number: number, keys: JSONWebKeySet): Promise<{ digest: CheckpointDigest; jws: string } | undefined> {
    const cached = this.cache.get(number);
    if (cached) return cached;
    const jws = await this.store.read(digestName(number));
    if (jws === undefined) return undefined;
    const digest = await verifyDigest(jws, number, keys);
    this.remember(digest, jws);
    return { digest, jws };
  }

  private remember(digest: CheckpointDigest, jws: string): void {
    this.seen = Math.max(this.seen, digest.number);
    this.cache.set(digest.number, { digest, jws });
    for (const number of this.cache.keys()) if (this.cache.size > CACHED_DIGESTS && number < this.seen) this.cache.delete(number);
  }

  /** The store's and the signature's failures as 503 AUDIT003 (an ApiError such as the key provider's passes as it is). */
  private async failingAsAudit003<T>(doing: 'read' | 'write', run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ApiError) throw error;
      this.logger.error(`Could not ${doing} the signed audit checkpoints in ${this.location}: ${(error as Error).message}`);
      throw new ApiError(
        'AUDIT003',
        `The signed audit checkpoints could not be ${doing === 'read' ? 'read' : 'written'}; nothing was concluded`,
        {
          cause: error,
        },
      );
    }
  }
}

/**
 * Provides the audit module's CHECKPOINT_ANCHOR port to every module: global, as the audit module
 * (cross-cutting) must not import the keys module.
 */
@Global()
@Module({
  imports: [KeysModule, ShredLogModule],
  providers: [{ provide: CHECKPOINT_ANCHOR, useClass: SignedCheckpointAnchor }],
  exports: [CHECKPOINT_ANCHOR],
})
export class CheckpointAnchorModule {}
