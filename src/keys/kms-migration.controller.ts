import { Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { ApiTwoPersonRule, CurrentApprovalCall } from '../dual-control/approval-call.decorator';
import { ApprovalRequestView } from '../dual-control/dto/approval.dto';
import { ApprovalCall, DualControlService } from '../dual-control/dual-control.service';
import { KmsMigrationStatusResponse, StartKmsMigrationResponse } from './dto/kms-migration.dto';
import { describeKmsMigration } from './kms-migration.audit';
import { KmsMigrationService, KmsMigrationStatus } from './kms-migration.service';

const json = (status: KmsMigrationStatus) => ({
  ...status,
  migration: status.migration && {
    ...status.migration,
    startedAt: status.migration.startedAt.toISOString(),
    finishedAt: status.migration.finishedAt?.toISOString() ?? null,
  },
});

/** The online KMS key migration (docs/operations.md): start it, and follow it. */
@ApiTags('admin')
@Controller('admin/kms-migration')
export class KmsMigrationController {
  constructor(
    private readonly migration: KmsMigrationService,
    private readonly dualControl: DualControlService,
  ) {}

  @Post()
  @HttpCode(201)
  @RequirePermission('keys:admin', Subject.operator())
  @Audited('kms-migration.start', describeKmsMigration)
  @ApiOperation({
    operationId: 'startKmsMigration',
    summary: 'Re-seal every sealed key under the current KMS key (KMS_KEY_ID); idempotent while one to that key runs',
  })
  @ApiCreatedResponse({ description: 'Started; every replica with this KMS_KEY_ID takes part', type: StartKmsMigrationResponse })
  @ApiOkResponse({ description: 'A migration to this key was already running (started: false)', type: StartKmsMigrationResponse })
  @ApiTwoPersonRule()
  async start(
    @CurrentApprovalCall() call: ApprovalCall,
    @Res({ passthrough: true }) response: Response,
  ): Promise<StartKmsMigrationResponse | ApprovalRequestView> {
    // Once every key is re-sealed the old KMS key may be disabled: the two-person rule (DUAL_CONTROL) asks a second identity first.
    const target = await this.migration.targetKeyId();
    const gated = await this.dualControl.guard({ action: 'kms-migration.start', target }, call, () => this.migration.start(call.actor.sub));
    if ('pending' in gated) {
      response.status(202);
      return gated.pending;
    }
    const { started, ...status } = gated.done;
    response.status(started ? 201 : 200);
    return { ...json(status), started } as unknown as StartKmsMigrationResponse;
  }

  @Get()
  @RequirePermission('keys:admin', Subject.operator())
  @Audited('kms-migration.read', describeKmsMigration)
  @ApiOperation({ operationId: 'getKmsMigration', summary: 'The latest KMS key migration and the sealed keys still under an old key' })
  @ApiOkResponse({ type: KmsMigrationStatusResponse })
  async status(): Promise<KmsMigrationStatusResponse> {
    return json(await this.migration.status()) as unknown as KmsMigrationStatusResponse;
  }
}
