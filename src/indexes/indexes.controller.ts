import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import {
  BlindIndexAnswer,
  ComputeIndexRequest,
  DefineIndexRequest,
  DefineIndexResponse,
  FinishRotationResponse,
  IndexDescription,
  IndexList,
} from './dto/index.dto';
import { ApiIndexNameParam, IndexNamePipe } from './index-name.pipe';
import {
  describeIndexCompute,
  describeIndexDefine,
  describeIndexFinishRotation,
  describeIndexRead,
  describeIndexRotate,
} from './indexes.audit';
import { IndexesService } from './indexes.service';
import { ApiTwoPersonRule, CurrentApprovalCall } from '../dual-control/approval-call.decorator';
import { ApprovalRequestView } from '../dual-control/dto/approval.dto';
import { ApprovalCall, DualControlService } from '../dual-control/dual-control.service';

/** Blind indexes (docs/blind-indexes.md): operators define and rotate them, services compute them. */
@ApiTags('indexes')
@Controller('indexes')
export class IndexesController {
  constructor(
    private readonly indexes: IndexesService,
    private readonly dualControl: DualControlService,
  ) {}

  @Post()
  @RequirePermission('indexes:admin', Subject.operator())
  @Audited('index.define', describeIndexDefine)
  @ApiOperation({
    operationId: 'defineIndex',
    summary: 'Define a blind index: its normalisation, output size and expected cardinality (idempotent)',
  })
  @ApiCreatedResponse({ description: 'Defined, with a new 256-bit key sealed by the key provider', type: DefineIndexResponse })
  @ApiOkResponse({ description: 'The index already existed with this very definition (created: false)', type: DefineIndexResponse })
  @ApiErrors({
    ENC001: 'invalid definition (the field is named)',
    IDX002: 'an index of this name exists with another definition',
    IDX004: 'the output size would make indexes unique for the cardinality, and exactMatch is not set',
  })
  async define(
    @Body() request: DefineIndexRequest,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DefineIndexResponse> {
    const defined = await this.indexes.define(request, principal?.sub ?? null);
    response.status(defined.created ? 201 : 200);
    return defined;
  }

  @Get()
  @RequirePermission('indexes:admin', Subject.operator())
  @Audited('index.read')
  @ApiOperation({ operationId: 'listIndexes', summary: 'Every blind index with its plan and key versions' })
  @ApiOkResponse({ type: IndexList })
  async list(): Promise<IndexList> {
    return { indexes: await this.indexes.list() };
  }

  @Get(':name')
  @RequirePermission('indexes:admin', Subject.operator())
  @Audited('index.read', describeIndexRead)
  @ApiOperation({ operationId: 'getIndex', summary: 'A blind index: definition, expected coincidences per lookup, key versions' })
  @ApiIndexNameParam()
  @ApiOkResponse({ type: IndexDescription })
  @ApiErrors({ ENC001: 'invalid index name', IDX001: 'no such index' })
  describe(@Param('name', IndexNamePipe) name: string): Promise<IndexDescription> {
    return this.indexes.describe(name);
  }

  @Post(':name')
  @HttpCode(200)
  @RequirePermission('index', Subject.operator())
  @Audited('index.compute', describeIndexCompute)
  @ApiOperation({
    operationId: 'computeIndexes',
    summary: 'One blind index per value (current key, and previous key during a rotation); values and indexes are never logged or audited',
  })
  @ApiIndexNameParam()
  @ApiOkResponse({ type: BlindIndexAnswer })
  @ApiErrors({ ENC001: 'invalid input, or an item that does not normalise (its index is named)', IDX001: 'no such index' })
  compute(@Param('name', IndexNamePipe) name: string, @Body() request: ComputeIndexRequest): Promise<BlindIndexAnswer> {
    return this.indexes.compute(name, request.data);
  }

  @Post(':name/rotate')
  @HttpCode(200)
  @RequirePermission('indexes:admin', Subject.operator())
  @Audited('index.rotate', describeIndexRotate)
  @ApiOperation({
    operationId: 'rotateIndex',
    summary: 'Start a key rotation: a new version becomes current; answers carry the previous version too until it is finished',
  })
  @ApiIndexNameParam()
  @ApiOkResponse({ type: IndexDescription })
  @ApiErrors({ ENC001: 'invalid index name', IDX001: 'no such index', IDX003: 'a rotation is already in progress' })
  rotate(@Param('name', IndexNamePipe) name: string): Promise<IndexDescription> {
    return this.indexes.rotate(name);
  }

  @Post(':name/finish-rotation')
  @HttpCode(200)
  @RequirePermission('indexes:admin', Subject.operator())
  @Audited('index.finish-rotation', describeIndexFinishRotation)
  @ApiOperation({
    operationId: 'finishIndexRotation',
    summary: 'Finish a rotation: the previous key is destroyed, its indexes can never be computed again',
  })
  @ApiIndexNameParam()
  @ApiTwoPersonRule()
  @ApiOkResponse({ type: FinishRotationResponse })
  @ApiErrors({ ENC001: 'invalid index name', IDX001: 'no such index', IDX003: 'no rotation is in progress' })
  async finishRotation(
    @Param('name', IndexNamePipe) name: string,
    @CurrentApprovalCall() call: ApprovalCall,
    @Res({ passthrough: true }) response: Response,
  ): Promise<FinishRotationResponse | ApprovalRequestView> {
    // Destroys the previous key for good: the two-person rule (DUAL_CONTROL) asks a second identity first.
    const gated = await this.dualControl.guard({ action: 'index.finish-rotation', target: name }, call, () =>
      this.indexes.finishRotation(name),
    );
    if ('pending' in gated) {
      response.status(202);
      return gated.pending;
    }
    return gated.done;
  }
}
