import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import { CANARY_REFRESH_MS } from '../common/limits';
import { AnyCiphertextParts, sharedKeyOf } from '../envelope/ciphertexts';
import { CanaryKey, CanaryRepository } from '../repositories/canary.repository';

/**
 * Bytes of a wrapped data key (ek1) or encapsulation (ek2) that name it in the lookup. Either is
 * an output that looks random (an RSA-OAEP output of 256+ bytes, an X-Wing ciphertext of 1120),
 * so its first 16 bytes already tell keys apart; a hit is then confirmed on the whole key.
 */
const PREFIX_BYTES = 16;
const prefixOf = (wrappedKey: Buffer) => wrappedKey.toString('latin1', 0, PREFIX_BYTES);

/**
 * Refused exactly as a tampered item is (ENC002, same message), so the caller learns nothing;
 * CanaryTripwire records what it knows before the answer goes out.
 */
export class CanaryTrippedError extends ApiError {
  constructor(
    readonly canaryId: string,
    message: string,
  ) {
    super('ENC002', message);
  }
}

/**
 * The wrapped data keys of the live canaries, in memory, so that recognising one costs a decrypt
 * one Map lookup per item (none at all while there are no canaries). Loaded from the primary at
 * start and every CANARY_REFRESH_MS, so a canary planted or retired through any replica is known
 * to all; the replica that planted or retired it knows at once.
 */
@Injectable()
export class CanaryRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Canaries');
  private byPrefix = new Map<string, CanaryKey>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly canaries: CanaryRepository) {}

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.logger.warn(`Canary refresh failed (${(error as Error)?.name}); keeping the last known set`),
      );
    }, CANARY_REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Reloads the live canaries from the primary. */
  async refresh(): Promise<void> {
    const next = new Map<string, CanaryKey>();
    for (const key of await this.canaries.liveKeysOnPrimary()) next.set(prefixOf(key.wrappedKey), key);
    this.byPrefix = next;
  }

  /** The first item that is a canary: its index and the canary's id. */
  find(items: readonly AnyCiphertextParts[]): { index: number; canaryId: string } | undefined {
    if (this.byPrefix.size === 0) return undefined;
    for (let index = 0; index < items.length; index++) {
      const wrappedKey = sharedKeyOf(items[index]);
      const hit = this.byPrefix.get(prefixOf(wrappedKey));
      if (hit && hit.wrappedKey.equals(wrappedKey)) return { index, canaryId: hit.id };
    }
    return undefined;
  }

  /** How many canaries are live here (for the benchmark and tests). */
  get size(): number {
    return this.byPrefix.size;
  }
}
