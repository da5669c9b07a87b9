import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import type { ErrorBody } from '../common/error-codes';
import type { ListeningSockets } from '../common/listening-sockets';
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
 * - Graceful shutdown (main.ts calls `drain` on SIGTERM), so that a rolling restart loses no
 *   request:
 *   1. readiness answers 503 at once, so that load balancers stop sending new connections here;
 *   2. for SHUTDOWN_DELAY_MS the process keeps serving everything that arrives, each answer with
 *      `Connection: close`, so that clients holding kept-alive connections move them elsewhere;
 *   3. then the listener closes (new connections are refused) and the connections with no request
 *      in progress are closed; a request in progress is answered (with `Connection: close`), and
 *      `drain` resolves when the last connection has closed or SHUTDOWN_GRACE_MS has passed. Then
 *      the application closes its pools and clients, and destroys what is still open.
 */
@Injectable()
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');
  private readonly maxInFlight: number;
  private inFlight = 0;
  private draining = false;

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
    // While draining every answer asks the client to take its next request elsewhere.
    if (this.draining) response.setHeader('Connection', 'close');
    if (this.inFlight >= this.maxInFlight && !NEVER_SHED.test(request.url)) return this.shed(request, response);
    this.inFlight += 1;
    response.once('close', this.finished);
    next();
  };

  /** Steps 1 to 3 above; `listener` is the API port's sockets. */
  async drain(signal: string, listener: Pick<ListeningSockets, 'close'>): Promise<void> {
    this.draining = true;
    const { shutdownDelayMs: delayMs, shutdownGraceMs: graceMs } = this.config.http;
    this.logger.log(`${signal}: not ready any more; serving ${delayMs} ms more with Connection: close, then closing the listener`);
    if (delayMs > 0) await sleep(delayMs);
    // Closing stops accepting and closes idle keep-alive connections at once (Node ≥ 19); it
    // resolves when the last connection, answered with Connection: close, has ended.
    const closed = listener.close().then(() => true);
    this.logger.log(`Listener closed; waiting up to ${graceMs} ms for ${this.inFlight} request(s) in flight`);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([closed, new Promise<boolean>((resolve) => (timer = setTimeout(resolve, graceMs, false)))]);
    clearTimeout(timer);
    if (!finished) this.logger.warn(`${this.inFlight} request(s) still in flight after SHUTDOWN_GRACE_MS; closing anyway`);
  }

  private readonly finished = (): void => {
    this.inFlight -= 1;
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
