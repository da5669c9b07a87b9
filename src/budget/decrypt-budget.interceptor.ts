import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { from, Observable, switchMap } from 'rxjs';
import { AuditWriter } from '../audit/audit-writer.service';
import { AuditedRequest, bodyOf, requestFacts } from '../audit/request-facts';
import { ApiError } from '../common/api-error';
import { BREAK_GLASS_HEADER, DECRYPT_BUDGET_FIELD } from '../common/decorators/decrypt-budget.decorator';
import { BREAK_GLASS_REASON_PATTERN, MAX_BREAK_GLASS_REASON_LENGTH } from '../common/limits';
import { isUserId } from '../common/user-id';
import { MetricsService } from '../metrics/metrics.service';
import { DecryptBudget } from './decrypt-budget.service';

/**
 * Before a route marked @CountsAgainstDecryptBudget runs (after authentication and permissions),
 * counts the person it names against the caller's budget of distinct people (DecryptBudget).
 * A person already counted in the window never costs again, however many requests. Over budget:
 * a `budget.exceeded` audit event, pii_api_decrypt_budget_exceeded_total and an error-level log
 * line naming the caller (never the data or the person), then 429 RATE002 with Retry-After —
 * unless the caller holds `decrypt:break-glass` and sends X-Break-Glass-Reason: then the request
 * goes on, once its event (with details.breakGlassReason) is stored.
 */
@Injectable()
export class DecryptBudgetInterceptor implements NestInterceptor {
  private readonly logger = new Logger('DecryptBudget');

  constructor(
    private readonly reflector: Reflector,
    private readonly budget: DecryptBudget,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const field = this.reflector.get<string | undefined>(DECRYPT_BUDGET_FIELD, context.getHandler());
    if (!field) return next.handle();
    const request = context.switchToHttp().getRequest<AuditedRequest & Request>();
    const caller = request.user;
    const person = bodyOf(request)?.[field];
    // A malformed user id is refused by validation before anyone's data is read.
    if (!caller || !isUserId(person)) return next.handle();
    const budget = this.budget.budgetOf(caller);
    if (budget === 0) return next.handle();
    return from(this.admit(request, person, budget)).pipe(switchMap(() => next.handle()));
  }

  private async admit(request: AuditedRequest & Request, person: string, budget: number): Promise<void> {
    const caller = request.user!;
    const reason = caller.permissions.has('decrypt:break-glass') ? breakGlassReason(request) : undefined;
    const count = await this.budget.count(caller.sub, person, budget, reason !== undefined);
    if (!count.over) return;
    const route = `${request.method} ${(request.route as { path?: string } | undefined)?.path ?? request.path}`;
    const facts = requestFacts(request);
    const window = { budget, windowSeconds: this.budget.windowSeconds, route };
    if (count.admitted) {
      this.metrics.countBudgetExceeded('break_glass');
      this.logger.error({
        msg: 'Decrypt budget exceeded under break-glass: allowed',
        caller: facts.actor,
        ...window,
        requestId: facts.requestId,
      });
      await this.audit.append({
        ...facts,
        userId: person,
        action: 'budget.exceeded',
        outcome: 'success',
        details: { ...window, breakGlassReason: reason },
      });
      return;
    }
    this.metrics.countBudgetExceeded('refused');
    this.logger.error({
      msg: 'Decrypt budget exceeded: refused; the caller reads more distinct people than it should',
      caller: facts.actor,
      ...window,
      requestId: facts.requestId,
    });
    await this.audit.append({
      ...facts,
      userId: person,
      action: 'budget.exceeded',
      outcome: 'denied',
      errorCode: 'RATE002',
      details: window,
    });
    throw new ApiError(
      'RATE002',
      `Decrypt budget exceeded: this caller read ${budget} distinct people in ${this.budget.windowSeconds} s; retry later`,
      {
        headers: { 'Retry-After': String(count.retryAfterSeconds) },
      },
    );
  }
}

/** The break-glass reason of a caller holding the permission: undefined when absent, ENC001 when malformed. */
function breakGlassReason(request: Request): string | undefined {
  const value = request.headers[BREAK_GLASS_HEADER.toLowerCase()];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !BREAK_GLASS_REASON_PATTERN.test(value)) {
    throw new ApiError(
      'ENC001',
      `${BREAK_GLASS_HEADER} must be 1 to ${MAX_BREAK_GLASS_REASON_LENGTH} printable ASCII characters, not only spaces`,
    );
  }
  return value;
}
