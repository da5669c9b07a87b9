import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { Audited } from '../common/decorators/audited.decorator';
import { ApiUuidParam } from '../common/decorators/fields.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { describeCanaryCreate, describeCanaryList, describeCanaryRetire } from './canaries.audit';
import { CanariesService } from './canaries.service';
import { CreateCanariesRequest, CreateCanariesResponse, ListCanariesResponse, RetiredCanary } from './dto/canary.dto';

@ApiTags('canaries')
@Controller('canaries')
export class CanariesController {
  constructor(private readonly canaries: CanariesService) {}

  @Post()
  @RequirePermission('canaries:write', Subject.operator())
  @Audited('canary.create', describeCanaryCreate)
  @ApiOperation({
    operationId: 'createCanaries',
    summary: 'Create canary rows of a user to plant among real rows',
    description:
      'Each canary is a row of decoy fields of the requested shapes, encrypted together under one data key (their ciphertexts share one wrapped key, as the fields of a real row from one /encrypt call do), ' +
      'under the current key version or an older one still held. Touching any field of the row trips the canary.',
  })
  @ApiCreatedResponse({ type: CreateCanariesResponse })
  @ApiErrors({
    ENC001: 'invalid input (the field is named)',
    KEY001: 'the user has no key',
    KEY005: true,
    CANARY002: 'keyVersion is not a version of the user’s key that is still held',
  })
  async create(@Body() request: CreateCanariesRequest, @CurrentPrincipal() caller: Principal): Promise<CreateCanariesResponse> {
    const { userId, count = 1, fields, keyVersion, label = null } = request;
    return { canaries: await this.canaries.create({ userId, count, fields, keyVersion, label, createdBy: caller.sub }) };
  }

  @Get()
  @RequirePermission('canaries:write', Subject.operator())
  @Audited('canary.list', describeCanaryList)
  @ApiOperation({
    operationId: 'listCanaries',
    summary: 'List the live canaries (their key versions and field shapes, without their ciphertexts)',
  })
  @ApiOkResponse({ type: ListCanariesResponse })
  async list(): Promise<ListCanariesResponse> {
    return { canaries: await this.canaries.list() };
  }

  @Delete(':id')
  @RequirePermission('canaries:write', Subject.operator())
  @Audited('canary.retire', describeCanaryRetire)
  @ApiOperation({ operationId: 'retireCanary', summary: 'Retire a canary: from now on it decrypts like any other ciphertext of its user' })
  @ApiUuidParam('id', 'The canary id (a UUID; any other text names no canary)', '5f0c1d8e-8a34-4b6e-9a52-0d6f3f9b2c11')
  @ApiOkResponse({ type: RetiredCanary })
  @ApiErrors({ CANARY001: 'no live canary has this id' })
  retire(@Param('id') id: string): Promise<RetiredCanary> {
    return this.canaries.retire(id);
  }
}
