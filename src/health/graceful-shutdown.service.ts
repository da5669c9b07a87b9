import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import type { ErrorBody } from '../common/error-codes';
import { SHED_RETRY_AFTER_SECONDS } from '../common/limits';
import type { RequestWithId } from '../common/request-id';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/** Probes and scrapes are never shed: readiness must not flap because the process is busy. */
const NEVER_SHED = /^\/(health\/|metrics(\?|$))/;

/**
 * The requests in flight, counted once per request by one middleware:
 *
 * - Load shedding: beyond MAX_IN_FLIGHT_REQUESTS a request is answered at once with 503 SYS002
 *   and `Retry-After`, before its body is read, and counted in
 *   `pii_api_http_requests_shed_total`. Health probes and /metrics are always served, so
 *   readiness and liveness stay truthful under overload (docs/operations.md).
 * - Graceful shutdown (main.ts calls `drain` on SIGTERM): readiness answers 503 at once so that
 *   Kubernetes stops routing here, requests already in flight run to completion, and requests
 *   that still arrive are served with `Connection: close`. `drain` resolves when nothing is in
 *   flight or SHUTDOWN_GRACE_MS has passed; then the application closes its server, pools and
 *   clients.
 */
@Injectable()
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');
  private readonly maxInFlight: number;
  private inFlight = 0;
  private draining = false;
  private onIdle?: () => void;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.maxInFlight = config.http.maxInFlight;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Express middleware counting the requests in flight and shedding those beyond the bound. */
  readonly trackRequests = (request: RequestWithId, response: Response, next: NextFunction): void => {
    if (this.inFlight >= this.maxInFlight && !NEVER_SHED.test(request.url)) return this.shed(request, response);
    this.inFlight += 1;
    if (this.draining) response.setHeader('Connection', 'close');
    response.once('close', this.finished);
    next();
  };

  async drain(signal: string): Promise<void> {
    this.draining = true;
    const graceMs = this.config.http.shutdownGraceMs;
    this.logger.log(`${signal}: not ready any more; waiting up to ${graceMs} ms for ${this.inFlight} request(s) in flight`);
    if (this.inFlight === 0) return;
    const finished = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs);
      this.onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    if (!finished) this.logger.warn(`${this.inFlight} request(s) still in flight after SHUTDOWN_GRACE_MS; closing anyway`);
  }

  private readonly finished = (): void => {
    this.inFlight -= 1;
    if (this.inFlight === 0) this.onIdle?.();
  };

  private shed(request: RequestWithId, response: Response): void {
    this.metrics.countShed();
    const body: ErrorBody = {
      statusCode: 503,
      code: 'SYS002',
      message: `The service is at its limit of requests in flight; retry after ${SHED_RETRY_AFTER_SECONDS} s`,
      requestId: request.requestId ?? 'unknown',
    };
    response.setHeader('Retry-After', String(SHED_RETRY_AFTER_SECONDS));
    response.status(503).json(body);
  }
}
