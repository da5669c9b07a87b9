import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited } from '../common/decorators/audited.decorator';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { RequirePermission } from '../common/decorators/require-permission.decorator';
import { Principal } from '../auth/principal';
import { ErrorResponse } from '../common/error-response.dto';
import { DelegationService } from './delegation.service';
import { describeGrantCreate, describeGrantDecision, describeGrantList, describeTranslate } from './delegation.audit';
import { CreateGrantRequest, GrantView, ListGrantsQuery, TranslateRequest, TranslateResponse } from './dto/grant.dto';

@ApiTags('delegation')
@Controller()
export class DelegationController {
  constructor(private readonly delegation: DelegationService) {}

  @Post('grants')
  @RequirePermission('grants:write', ['fromUserId'])
  @Audited('grant.create', describeGrantCreate)
  @ApiOperation({ operationId: 'createGrant', summary: 'Create a pending grant releasing one person’s data to a delegate' })
  @ApiCreatedResponse({ type: GrantView })
  @ApiBadRequestResponse({ description: 'ENC001: invalid input', type: ErrorResponse })
  create(@Body() request: CreateGrantRequest, @CurrentPrincipal() caller: Principal): Promise<GrantView> {
    return this.delegation.create(request, caller.sub);
  }

  @Post('grants/:id/approve')
  @HttpCode(200)
  @RequirePermission('grants:approve', [])
  @Audited('grant.approve', describeGrantDecision)
  @ApiOperation({ operationId: 'approveGrant', summary: 'Approve a grant as the calling identity (never the creator; repeats are not counted)' })
  @ApiOkResponse({ type: GrantView })
  @ApiNotFoundResponse({ description: 'GRANT001: no such grant', type: ErrorResponse })
  approve(@Param('id') id: string, @CurrentPrincipal() caller: Principal): Promise<GrantView> {
    return this.delegation.approve(id, caller.sub);
  }

  @Delete('grants/:id')
  @RequirePermission('grants:write', [])
  @Audited('grant.revoke', describeGrantDecision)
  @ApiOperation({ operationId: 'revokeGrant', summary: 'Revoke a grant' })
  @ApiOkResponse({ type: GrantView })
  @ApiNotFoundResponse({ description: 'GRANT001: no such grant', type: ErrorResponse })
  revoke(@Param('id') id: string, @CurrentPrincipal() caller: Principal): Promise<GrantView> {
    return this.delegation.revoke(id, caller.sub);
  }

  @Get('grants')
  @RequirePermission(['grants:write', 'grants:approve'], ['fromUserId', 'toUserId'])
  @Audited('grant.list', describeGrantList)
  @ApiOperation({ operationId: 'listGrants', summary: 'List grants with their state, newest first' })
  @ApiOkResponse({ type: [GrantView] })
  list(@Query() query: ListGrantsQuery): Promise<GrantView[]> {
    return this.delegation.list(query);
  }

  @Post('translate')
  @HttpCode(200)
  @RequirePermission('translate', [])
  @Audited('translate', describeTranslate)
  @ApiOperation({ operationId: 'translate', summary: 'Re-encrypt a person’s ciphertexts under a delegate’s key, under an active grant; plaintext never leaves the service' })
  @ApiOkResponse({ type: TranslateResponse })
  @ApiBadRequestResponse({ description: 'ENC001: invalid input; ENC002: a ciphertext failed authentication (JSON path named)', type: ErrorResponse })
  @ApiNotFoundResponse({ description: 'KEY001: either user has no key', type: ErrorResponse })
  async translate(@Body() request: TranslateRequest): Promise<TranslateResponse> {
    return { translatedData: await this.delegation.translate(request.fromUserId, request.toUserId, request.data) };
  }
}
