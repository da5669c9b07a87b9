import { applyDecorators, createParamDecorator, ExecutionContext } from '@nestjs/common';
import { ApiAcceptedResponse, ApiHeader } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { APPROVAL_ID_HEADER } from '../common/approvals';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import type { RequestWithId } from '../common/request-id';
import { UUID_PATTERN } from '../common/uuid';
import { ApprovalRequestView } from './dto/approval.dto';
import type { ApprovalCall } from './dual-control.service';

/** The caller of a gated route and the approved request it names (X-Approval-Id), for DualControlService.guard. */
export const CurrentApprovalCall = createParamDecorator((_data: unknown, context: ExecutionContext): ApprovalCall => {
  const request = context.switchToHttp().getRequest<RequestWithId & { user: Principal }>();
  const header = request.header(APPROVAL_ID_HEADER);
  return {
    actor: { sub: request.user.sub, clientId: request.user.clientId, username: request.user.username ?? null },
    approvalId: header === undefined ? undefined : header.trim(),
    requestId: request.requestId ?? null,
    sourceIp: request.ip ?? null,
  };
});

/** The document of a route under the two-person rule: the X-Approval-Id header, the 202 request, the approval errors. */
export function ApiTwoPersonRule(): MethodDecorator {
  return applyDecorators(
    ApiHeader({
      name: APPROVAL_ID_HEADER,
      required: false,
      description:
        'The id of an approval request for this very action and target, approved by a second identity (POST /api/v1/approvals/{id}/approve): the action runs, once. Without it (DUAL_CONTROL=on) nothing runs and a request is made (202)',
      schema: { type: 'string', format: 'uuid', pattern: UUID_PATTERN.source },
    }),
    ApiAcceptedResponse({
      type: ApprovalRequestView,
      description:
        'Two-person rule (DUAL_CONTROL=on) and no X-Approval-Id: nothing was done. This request for the action waits for a second identity with `approvals:approve` to approve it (POST /api/v1/approvals/{id}/approve); then repeat this call with X-Approval-Id to run it',
    }),
    ApiErrors({
      APPROVAL001: 'X-Approval-Id names no approval request',
      APPROVAL002: 'the approval request named was already used, or has expired',
      APPROVAL003: 'the approval request named is not approved by a second identity yet, or is for another action or target',
    }),
  );
}
