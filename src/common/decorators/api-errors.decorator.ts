import { ApiExtraModels, ApiResponse, ApiResponseOptions } from '@nestjs/swagger';
import { ERROR_CODES, ErrorCode } from '../error-codes';
import { describeErrors, ErrorResponse, errorResponseObject, RouteErrors } from '../error-response.dto';

const DECLARED_ERRORS = 'api:declared-errors';

/**
 * The error codes a route can answer with. Several decorators may declare codes on one route
 * (RequirePermission, Audited, the route itself): each documented status lists all the codes
 * declared for it, with the ErrorResponse body whose `code` is one of them. Codes that every
 * route can answer (SYS001, a body that is not JSON) are added by the document builder.
 */
export function ApiErrors(errors: RouteErrors): MethodDecorator {
  return (target, key, descriptor) => {
    const handler = descriptor.value as object;
    const declared: Record<string, string> = { ...(Reflect.getMetadata(DECLARED_ERRORS, handler) ?? {}) };
    // A code declared twice with different meanings (a dependency down; the audit event not stored) keeps both.
    for (const [code, meaning] of Object.entries(describeErrors(errors))) {
      declared[code] = declared[code] && declared[code] !== meaning ? `${meaning}; ${declared[code]}` : meaning;
    }
    Reflect.defineMetadata(DECLARED_ERRORS, declared, handler);
    ApiExtraModels(ErrorResponse)(target, key, descriptor);
    const statuses = new Set(Object.keys(errors).map((code) => ERROR_CODES[code as ErrorCode].status));
    for (const status of statuses) {
      const codes = Object.fromEntries(Object.entries(declared).filter(([code]) => ERROR_CODES[code as ErrorCode].status === status));
      ApiResponse({ status, ...errorResponseObject(status, codes) } as ApiResponseOptions)(target, key, descriptor);
    }
    return descriptor;
  };
}
