import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config';

/**
 * Graceful shutdown (main.ts calls `drain` on SIGTERM): readiness answers 503 at once so that
 * Kubernetes stops routing here, requests already in flight run to completion, and requests that
 * still arrive are served with `Connection: close`. `drain` resolves when nothing is in flight or
 * SHUTDOWN_GRACE_MS has passed; then the application closes its server, pools and clients.
 */
@Injectable()
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');
  private inFlight = 0;
  private draining = false;
  private onIdle?: () => void;

  constructor(private readonly config: AppConfig) {}

  get isDraining(): boolean {
    return this.draining;
  }

  /** Express middleware counting the requests in flight. */
  readonly trackRequests = (_request: Request, response: Response, next: NextFunction): void => {
    this.inFlight += 1;
    if (this.draining) response.setHeader('Connection', 'close');
    response.once('close', () => {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.onIdle?.();
    });
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
}
