import { Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { ApiTwoPersonRule, CurrentApprovalCall } from '../dual-control/approval-call.decorator';
import { ApprovalRequestView } from '../dual-control/dto/approval.dto';
import { ApprovalCall, DualControlService } from '../dual-control/dual-control.service';
import { ShredBreakerView } from './dto/shred-breaker.dto';
import { describeShredBreaker } from './shred-breaker.audit';
import { ShredBreaker } from './shred-breaker.service';

/** The mass-destruction breaker (README "Mass-destruction breaker"): read it, and lift it under the two-person rule. */
@ApiTags('admin')
@Controller('admin/shred-breaker')
export class ShredBreakerController {
  constructor(
    private readonly breaker: ShredBreaker,
    private readonly dualControl: DualControlService,
  ) {}

  @Get()
  @RequirePermission('keys:admin', Subject.operator())
  @Audited('shred-breaker.read', describeShredBreaker)
  @ApiOperation({
    operationId: 'getShredBreaker',
    summary: 'The mass-destruction breaker: tripped or not, and the crypto-shreds of the past hour',
  })
  @ApiOkResponse({ type: ShredBreakerView })
  state(): Promise<ShredBreakerView> {
    return this.breaker.state();
  }

  @Post('lift')
  @HttpCode(200)
  @RequirePermission('keys:admin', Subject.operator())
  @Audited('shred-breaker.lift', describeShredBreaker)
  @ApiOperation({
    operationId: 'liftShredBreaker',
    summary:
      'Lift the tripped mass-destruction breaker, so DELETE /keys destroys again (two-person rule: a second identity approves the request this call makes); not tripped: changes nothing',
  })
  @ApiTwoPersonRule()
  @ApiOkResponse({ type: ShredBreakerView, description: 'The breaker, lifted (or as it was, when it was not tripped)' })
  async lift(
    @CurrentApprovalCall() call: ApprovalCall,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ShredBreakerView | ApprovalRequestView> {
    const before = await this.breaker.state();
    if (!before.tripped) return before;
    const gated = await this.dualControl.guard({ action: 'shred-breaker.lift', target: String(before.trip) }, call, (under) =>
      this.breaker.lift(before.trip, call.actor.sub, under?.approvedBy ?? []),
    );
    if ('pending' in gated) {
      response.status(202);
      return gated.pending;
    }
    return gated.done;
  }
}
