import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import { SHRED_BREAKER_REFRESH_MS, SHRED_BREAKER_RETRY_AFTER_SECONDS } from '../common/limits';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { ShredBreakerRepository, ShredBreakerState, ShredRefused } from '../repositories/shred-breaker.repository';
import { ShredBreakerView } from './dto/shred-breaker.dto';

/**
 * The mass-destruction breaker (README "Mass-destruction breaker"): a stolen credential with
 * `keys:delete` must not crypto-shred the whole estate before anyone looks. DELETE /keys passes
 * it to KeysService.destroyKeys, whose destroying transaction asks the breaker row on the
 * primary (admitShredIn): beyond SHRED_MAX_PER_HOUR shreds in a sliding hour, across every
 * replica, the breaker trips and every DELETE that would destroy keys is refused with 429
 * SHRED001 until two people lift it (POST /admin/shred-breaker/lift, two-person rule). It holds
 * without Redis. Scheduled destructions do not pass it: already decided, they still happen.
 */
@Injectable()
export class ShredBreaker implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ShredBreaker');
  private refresher?: NodeJS.Timeout;

  constructor(
    private readonly breaker: ShredBreakerRepository,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  get maxPerHour(): number {
    return this.config.shredMaxPerHour;
  }

  onModuleInit(): void {
    void this.refreshGauge();
    this.refresher = setInterval(() => void this.refreshGauge(), SHRED_BREAKER_REFRESH_MS);
    this.refresher.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.refresher);
  }

  /** The refusal to answer a DELETE the breaker stopped (its metric and log line recorded). */
  refusal(userId: string, refused: ShredRefused): ApiError {
    this.metrics.setShredBreakerTripped(true);
    this.metrics.countShredBreakerRefusal(refused.trippedNow ? 'tripped_now' : 'tripped');
    if (refused.trippedNow) {
      this.logger.error(
        `MASS-DESTRUCTION BREAKER TRIPPED (trip ${refused.trip}): the crypto-shred of user ${userId} would exceed SHRED_MAX_PER_HOUR=${this.maxPerHour} in the past hour; no DELETE /keys destroys keys until two people lift it`,
      );
    } else {
      this.logger.warn(`Crypto-shred of user ${userId} refused: the mass-destruction breaker is tripped (trip ${refused.trip})`);
    }
    return new ApiError(
      'SHRED001',
      `More than ${this.maxPerHour} crypto-shreds in an hour: the mass-destruction breaker is tripped and nothing was destroyed; it stays tripped until two people lift it (POST /api/v1/admin/shred-breaker/lift)`,
      // People lift it, not time: Retry-After (which every 429 carries) says an hour, the window.
      { headers: { 'Retry-After': String(SHRED_BREAKER_RETRY_AFTER_SECONDS) } },
    );
  }

  async state(): Promise<ShredBreakerView> {
    const state = await this.breaker.stateOnPrimary();
    this.metrics.setShredBreakerTripped(state.trippedAt !== null);
    return this.view(state);
  }

  /** Lifts trip `trip`: DELETE /keys destroys again and the count starts from now. */
  async lift(trip: number, liftedBy: string, approvedBy: readonly string[]): Promise<ShredBreakerView> {
    const lifted = await this.breaker.lift(trip, liftedBy, approvedBy.length ? approvedBy.join(',') : null);
    if (lifted) {
      this.logger.warn(
        `Mass-destruction breaker lifted (trip ${trip}) by ${liftedBy}${approvedBy.length ? `, approved by ${approvedBy.join(', ')}` : ''}`,
      );
    }
    return this.state();
  }

  private async refreshGauge(): Promise<void> {
    try {
      this.metrics.setShredBreakerTripped((await this.breaker.stateOnPrimary()).trippedAt !== null);
    } catch {
      // The database is out of reach: the gauge keeps the last state read; readiness reports the database.
    }
  }

  private view(state: ShredBreakerState): ShredBreakerView {
    return {
      tripped: state.trippedAt !== null,
      trip: state.trip,
      ...(state.trippedAt && { trippedAt: state.trippedAt.toISOString() }),
      maxPerHour: this.maxPerHour,
      destroyedInWindow: state.destroyedInWindow,
      ...(state.liftedAt && { liftedAt: state.liftedAt.toISOString() }),
      ...(state.liftedBy && { liftedBy: state.liftedBy }),
      ...(state.approvedBy && { approvedBy: state.approvedBy }),
    };
  }
}
