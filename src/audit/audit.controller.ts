import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { ApiUserIdParam } from '../common/decorators/fields.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { UserIdPipe } from '../common/user-id.pipe';
import { describeAuditQuery, describeAuditVerify } from './audit-routes.audit';
import { AuditService } from './audit.service';
import { Audited } from '../common/decorators/audited.decorator';
import { AuditQuery, TimeRangeQuery, VerifyQuery } from './dto/audit-query.dto';
import { AccessReport, AuditPage, VerifyResponse } from './dto/audit-responses.dto';

@ApiTags('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @RequirePermission('audit:read', Subject.named('userId'))
  @Audited('audit.query', describeAuditQuery)
  @ApiOperation({ operationId: 'listAuditEvents', summary: 'Audit events, newest first, filtered and cursor-paginated' })
  @ApiOkResponse({ type: AuditPage })
  @ApiErrors({ ENC001: 'an invalid query parameter (named), from later than to, or an unknown parameter' })
  query(@Query() query: AuditQuery): Promise<AuditPage> {
    return this.audit.query(query);
  }

  @Get('verify')
  @RequirePermission('audit:read', Subject.operator())
  @Audited('audit.verify', describeAuditVerify)
  @ApiOperation({
    operationId: 'verifyAuditTrail',
    summary:
      'Walk every hash chain from its last verified checkpoint (full=true: from its start): ok, or the first broken link (an edited, removed or inserted event)',
  })
  @ApiOkResponse({ type: VerifyResponse })
  @ApiErrors({
    ENC001: 'full other than true or false, or an unknown query parameter',
    AUDIT001:
      'full=true while another full verification runs, in any replica (one at a time); Retry-After: AUDIT_VERIFY_TIMEOUT_MS in seconds',
    AUDIT002: 'full=true: the walk did not finish within AUDIT_VERIFY_TIMEOUT_MS and was stopped; no checkpoint moved',
    AUDIT003: 'the signed checkpoints could not be read from or written to their write-once store; no checkpoint moved',
  })
  verify(@Query() query: VerifyQuery): Promise<VerifyResponse> {
    return this.audit.verify(query);
  }
}

/** The access report lives under the person's keys (README, API table). */
@ApiTags('audit')
@Controller('keys')
export class AccessReportController {
  constructor(private readonly audit: AuditService) {}

  @Get(':userId/access-report')
  @RequirePermission('audit:read', Subject.named('userId'))
  @Audited('audit.report')
  @ApiOperation({
    operationId: 'getAccessReport',
    summary: 'Who encrypted or decrypted this person’s data, how many items, when, and for what stated purpose',
  })
  @ApiUserIdParam()
  @ApiOkResponse({ type: AccessReport })
  @ApiErrors({ ENC001: 'invalid userId, from or to (named), from later than to, or an unknown query parameter' })
  report(@Param('userId', UserIdPipe) userId: string, @Query() range: TimeRangeQuery): Promise<AccessReport> {
    return this.audit.accessReport(userId, range);
  }
}
