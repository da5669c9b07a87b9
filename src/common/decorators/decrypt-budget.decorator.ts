import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { BREAK_GLASS_REASON_PATTERN, MAX_BREAK_GLASS_REASON_LENGTH } from '../limits';
import { ApiErrors } from './api-errors.decorator';

export const DECRYPT_BUDGET_FIELD = 'budget:subject-field';
export const BREAK_GLASS_HEADER = 'X-Break-Glass-Reason';

/**
 * The route reads or rewrites the data of the person named by body field `field`: the global
 * decrypt budget (src/budget) counts that person against the caller's budget of distinct people
 * before the route runs, and refuses the request over budget (429 RATE002) unless the caller
 * holds `decrypt:break-glass` and says why in X-Break-Glass-Reason.
 */
export const CountsAgainstDecryptBudget = (field: string) =>
  applyDecorators(
    SetMetadata(DECRYPT_BUDGET_FIELD, field),
    ApiHeader({
      name: BREAK_GLASS_HEADER,
      required: false,
      description: `With the decrypt:break-glass permission only: why this caller may read past its decrypt budget (1 to ${MAX_BREAK_GLASS_REASON_LENGTH} printable ASCII characters, not only spaces), recorded in the audit trail`,
      // The pattern the interceptor checks (src/budget/decrypt-budget.interceptor.ts).
      schema: { type: 'string', pattern: BREAK_GLASS_REASON_PATTERN.source, minLength: 1, maxLength: MAX_BREAK_GLASS_REASON_LENGTH },
    }),
    ApiErrors({
      RATE002: `this caller read DECRYPT_SUBJECT_BUDGET distinct people in the window; Retry-After says when one leaves it (decrypt:break-glass with ${BREAK_GLASS_HEADER} overrides)`,
      ENC001: `${BREAK_GLASS_HEADER} is not 1 to ${MAX_BREAK_GLASS_REASON_LENGTH} printable ASCII characters (checked for callers holding decrypt:break-glass)`,
    }),
  );
