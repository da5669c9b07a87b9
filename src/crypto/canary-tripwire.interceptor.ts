import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import type { Request } from 'express';
import { catchError, from, Observable, switchMap, throwError } from 'rxjs';
import { AuditWriter } from '../audit/audit-writer.service';
import { AuditedRequest, requestFacts } from '../audit/request-facts';
import { MetricsService } from '../metrics/metrics.service';
import { CanaryTrippedError } from './canary-registry.service';

/**
 * When a request touched a canary (CanaryTrippedError from CryptoService, on /decrypt, /rotate,
 * /rewrap or /translate): records a `canary.tripped` audit event naming the caller, the route
 * and the canary, bumps pii_api_canary_tripped_total and logs at error level — then lets the
 * ENC002 answer go out unchanged, so the caller cannot tell a canary from a tampered item.
 */
@Injectable()
export class CanaryTripwire implements NestInterceptor {
  private readonly logger = new Logger('Canaries');

  constructor(
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (!(error instanceof CanaryTrippedError)) return throwError(() => error);
        const request = context.switchToHttp().getRequest<AuditedRequest & Request>();
        return from(this.record(request, error.canaryId)).pipe(switchMap(() => throwError(() => error)));
      }),
    );
  }

  private async record(request: AuditedRequest & Request, canaryId: string): Promise<void> {
    const route = `${request.method} ${(request.route as { path?: string } | undefined)?.path ?? request.path}`;
    const facts = requestFacts(request);
    this.metrics.countCanaryTripped(route);
    this.logger.error({
      msg: 'Canary ciphertext touched: the caller holds data it should never read',
      canaryId,
      route,
      caller: facts.actor,
      requestId: facts.requestId,
    });
    await this.audit.append({ ...facts, action: 'canary.tripped', outcome: 'denied', errorCode: 'ENC002', details: { canaryId, route } });
  }
}
