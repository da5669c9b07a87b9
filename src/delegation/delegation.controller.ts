import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { ApiUuidParam } from '../common/decorators/fields.decorator';
import { Audited } from '../common/decorators/audited.decorator';
import { CountsAgainstDecryptBudget } from '../common/decorators/decrypt-budget.decorator';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { Principal } from '../auth/principal';
import { GrantRepository } from '../repositories/grant.repository';
import { DelegationService } from './delegation.service';
import { describeGrantCreate, describeGrantDecision, describeGrantList, describeTranslate } from './delegation.audit';
import { CreateGrantRequest, GrantView, ListGrantsQuery, TranslateRequest, TranslateResponse } from './dto/grant.dto';

/** A token bound to a person reaches a grant by id only when the grant is theirs or made to them. */
const GRANT_SUBJECTS = Subject.loaded('grant', 'id', GrantRepository);

/** Grant ids are UUIDs; any other id names no grant (404 GRANT001). */
const ApiGrantId = () => ApiUuidParam('id', 'The grant id (a UUID; any other text names no grant)', '0b7d7a0e-1d7c-4b0f-9d3e-0b1c2d3e4f50');

@ApiTags('delegation')
@Controller()
export class DelegationController {
  constructor(private readonly delegation: DelegationService) {}

  @Post('grants')
  @RequirePermission('grants:write', Subject.named('fromUserId'))
  @Audited('grant.create', describeGrantCreate)
  @ApiOperation({ operationId: 'createGrant', summary: 'Create a pending grant releasing one person’s data to a delegate' })
  @ApiCreatedResponse({ type: GrantView })
  @ApiErrors({ ENC001: 'invalid input (the field is named), fromUserId equal to toUserId, or expiresAt not later than notBefore and now' })
  create(@Body() request: CreateGrantRequest, @CurrentPrincipal() caller: Principal): Promise<GrantView> {
    return this.delegation.create(request, caller.sub);
  }

  @Post('grants/:id/approve')
  @HttpCode(200)
  @RequirePermission('grants:approve', GRANT_SUBJECTS)
  @Audited('grant.approve', describeGrantDecision)
  @ApiOperation({
    operationId: 'approveGrant',
    summary: 'Approve a grant as the calling identity (never the creator; repeats are not counted)',
  })
  @ApiGrantId()
  @ApiOkResponse({ type: GrantView })
  @ApiErrors({
    GRANT001: 'no grant has this id',
    GRANT002: 'the grant is revoked or expired',
    AUTH002: 'the caller created the grant, and may not approve it',
  })
  approve(@Param('id') id: string, @CurrentPrincipal() caller: Principal): Promise<GrantView> {
    return this.delegation.approve(id, caller.sub);
  }

  @Delete('grants/:id')
  @RequirePermission('grants:write', GRANT_SUBJECTS)
  @Audited('grant.revoke', describeGrantDecision)
  @ApiOperation({ operationId: 'revokeGrant', summary: 'Revoke a grant' })
  @ApiGrantId()
  @ApiOkResponse({ description: 'The grant, revoked (revoking it again changes nothing)', type: GrantView })
  @ApiErrors({ GRANT001: 'no grant has this id' })
  revoke(@Param('id') id: string, @CurrentPrincipal() caller: Principal): Promise<GrantView> {
    return this.delegation.revoke(id, caller.sub);
  }

  @Get('grants')
  @RequirePermission(['grants:write', 'grants:approve'], Subject.oneOf('fromUserId', 'toUserId'))
  @Audited('grant.list', describeGrantList)
  @ApiOperation({ operationId: 'listGrants', summary: 'List grants with their state, newest first' })
  @ApiOkResponse({ description: 'At most 500 grants, newest first', type: [GrantView] })
  @ApiErrors({ ENC001: 'invalid fromUserId or toUserId, or an unknown query parameter' })
  list(@Query() query: ListGrantsQuery): Promise<GrantView[]> {
    return this.delegation.list(query);
  }

  @Post('translate')
  @HttpCode(200)
  @RequirePermission('translate', Subject.oneOf('fromUserId', 'toUserId'))
  @Audited('translate', describeTranslate)
  @CountsAgainstDecryptBudget('fromUserId')
  @ApiOperation({
    operationId: 'translate',
    summary: 'Re-encrypt a person’s ciphertexts under a delegate’s key, under an active grant; plaintext never leaves the service',
  })
  @ApiOkResponse({ type: TranslateResponse })
  @ApiErrors({
    ENC001: 'invalid input, or a malformed ciphertext (its JSON path is named)',
    ENC002: 'a ciphertext failed authentication: not fromUserId’s, or tampered (its JSON path is named)',
    KEY001: 'either user has no key',
    KEY005: 'the keys of either user are pending deletion (DELETE /keys)',
    AUTH002: 'no active grant releases fromUserId’s data to toUserId (the message says why)',
  })
  async translate(@Body() request: TranslateRequest): Promise<TranslateResponse> {
    return { translatedData: await this.delegation.translate(request.fromUserId, request.toUserId, request.data) };
  }
}
