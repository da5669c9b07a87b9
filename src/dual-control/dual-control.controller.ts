import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { Audited } from '../common/decorators/audited.decorator';
import { ApiUuidParam } from '../common/decorators/fields.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { Permission } from '../common/permissions';
import { describeApprovalDecision, describeApprovalRead } from './dual-control.audit';
import { ApprovalRequestList, ApprovalRequestView } from './dto/approval.dto';
import { DualControlService } from './dual-control.service';

/** Who may read requests: approvers, and those who may ask for one of the actions. */
const READERS: Permission[] = ['approvals:approve', 'indexes:admin', 'keys:admin'];

const ApiRequestId = () =>
  ApiUuidParam('id', 'The approval request id (a UUID; any other text names no request)', '3f0c9a52-7d0e-4e57-9b1a-2f3e4d5c6b7a');

/** The two-person rule's requests (README "Two-person rule"): list, read, approve. Requests are made by the gated routes themselves. */
@ApiTags('approvals')
@Controller('approvals')
export class DualControlController {
  constructor(private readonly dualControl: DualControlService) {}

  @Get()
  @RequirePermission(READERS, Subject.operator())
  @Audited('approval.read')
  @ApiOperation({ operationId: 'listApprovalRequests', summary: 'The newest requests for destructive actions, with their state' })
  @ApiOkResponse({ type: ApprovalRequestList })
  async list(): Promise<ApprovalRequestList> {
    return { requests: await this.dualControl.list() };
  }

  @Get(':id')
  @RequirePermission(READERS, Subject.operator())
  @Audited('approval.read', describeApprovalRead)
  @ApiOperation({ operationId: 'getApprovalRequest', summary: 'One request for a destructive action, with its approvals' })
  @ApiRequestId()
  @ApiOkResponse({ type: ApprovalRequestView })
  @ApiErrors({ APPROVAL001: 'no approval request has this id' })
  get(@Param('id') id: string): Promise<ApprovalRequestView> {
    return this.dualControl.find(id);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequirePermission('approvals:approve', Subject.operator())
  @Audited('approval.approve', describeApprovalDecision)
  @ApiOperation({
    operationId: 'approveApprovalRequest',
    summary:
      'Approve a request for a destructive action as the calling identity (never its requester; repeats are not counted); the requester then runs it with X-Approval-Id',
  })
  @ApiRequestId()
  @ApiOkResponse({ type: ApprovalRequestView, description: 'The request, approved' })
  @ApiErrors({
    APPROVAL001: 'no approval request has this id',
    APPROVAL002: 'the request was already used, or has expired',
    AUTH002: 'the caller asked for this action, and may not approve it',
  })
  approve(@Param('id') id: string, @CurrentPrincipal() caller: Principal): Promise<ApprovalRequestView> {
    return this.dualControl.approve(id, caller.sub);
  }
}
