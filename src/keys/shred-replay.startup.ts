import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SHRED_REPLAY_RETRY_MS } from '../common/limits';
import { StartupGate } from '../health/startup-gate.service';
import { MetricsService } from '../metrics/metrics.service';
import { ShredReplayService } from './shred-replay.service';

/** The readiness check, and the start-up task, that the replay holds. */
export const SHRED_LOG_TASK = 'shredLog';

/**
 * Replays the shred log every time the service starts, before it serves: the task is held in
 * the start-up gate before the HTTP server listens, so until the replay has finished readiness
 * answers 503 (`shredLog` down, with the attempts made if any failed) and every API request 503 SYS002.
 * A log or database that cannot be read keeps it so, retried with a growing pause, and logged;
 * the service never serves a user a restore brought back. When done, readiness shows `shredLog`
 * up with the count of each outcome (replayed, examined, completed, aborted, skipped,
 * auditRecovered, auditPending: numbers only), and the counts and the log's location are logged.
 */
@Injectable()
export class ShredReplayAtStartup implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ShredReplay');
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private wake?: () => void;

  constructor(
    private readonly replay: ShredReplayService,
    private readonly gate: StartupGate,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.gate.hold(SHRED_LOG_TASK, { message: 'replaying the shred log' });
  }

  /**
   * The first attempt runs before the server listens (Nest awaits this hook), so normally nothing
   * is served before the replay. After a failure the retries run in the background: the server
   * listens, liveness holds, readiness and the API answer 503 until one succeeds.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (await this.attempt(1)) return;
    void this.retry();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
  }

  private async retry(): Promise<void> {
    let pauseMs: number = SHRED_REPLAY_RETRY_MS.first;
    for (let attempt = 2; !this.stopped; attempt++) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, pauseMs);
      });
      if (this.stopped || (await this.attempt(attempt, pauseMs))) return;
      pauseMs = Math.min(pauseMs * 2, SHRED_REPLAY_RETRY_MS.max);
    }
  }

  /** One replay; true when it finished (the gate is released), false when it failed (logged, shown in readiness). */
  private async attempt(attempt: number, pauseMs: number = SHRED_REPLAY_RETRY_MS.first): Promise<boolean> {
    try {
      const result = await this.replay.replay();
      const { log, ...counts } = result;
      this.logger.log(
        `Shred log replayed: ${result.replayed} shredded user(s) destroyed again, ${result.examined} shreds examined, ` +
          `${result.completed} open intent(s) completed as destroyed and ${result.aborted} aborted, ${result.skipped} skipped; ` +
          `${result.auditRecovered} key.shred-replayed audit event(s) stored late, ${result.auditPending} still pending (${log})`,
      );
      // Readiness shows the counts (numbers only); the log's location is in the line above.
      this.gate.release(SHRED_LOG_TASK, counts);
      return true;
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.logger.error(`Shred log replay failed (attempt ${attempt}); not ready, retrying within ${pauseMs} ms: ${reason}`);
      this.metrics.countShredReplay('failed');
      // Readiness shows the count of attempts; the reason (it may name the bucket) is in the log line above only.
      this.gate.progress(SHRED_LOG_TASK, { attempts: attempt });
      return false;
    }
  }
}
