import { Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
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
  constructor(private readonly migration: KmsMigrationService) {}

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
  async start(
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<StartKmsMigrationResponse> {
    const { started, ...status } = await this.migration.start(principal?.sub ?? null);
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
