import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission } from '../common/decorators/require-permission.decorator';
import { ErrorResponse } from '../common/error-response.dto';
import { RewrapRequest, RewrapResponse, RotateRequest, RotateResponse } from './dto/rotation.dto';
import { RotationService } from './rotation.service';
import { describeRewrap, describeRotate } from './rotation.audit';

@ApiTags('rotation')
@ApiNotFoundResponse({ description: 'KEY001: the user has no key', type: ErrorResponse })
@Controller()
export class RotationController {
  constructor(private readonly rotation: RotationService) {}

  @Post('rotate')
  @HttpCode(200)
  @RequirePermission('rotate')
  @Audited('rotate', describeRotate)
  @ApiOperation({ operationId: 'rotateKey', summary: 'Create a new key version and re-encrypt every ciphertext found in `data` under it' })
  @ApiOkResponse({ type: RotateResponse })
  @ApiBadRequestResponse({ description: 'ENC001: invalid input; ENC002: a ciphertext failed authentication (its JSON path is named); no version is created', type: ErrorResponse })
  @ApiConflictResponse({ description: 'KEY002: a rotation for this user is already in progress', type: ErrorResponse })
  rotate(@Body() request: RotateRequest): Promise<RotateResponse> {
    return this.rotation.rotate(request.userId, request.data, request.reason ?? 'manual');
  }

  @Post('rewrap')
  @HttpCode(200)
  @RequirePermission('rotate')
  @Audited('rewrap', describeRewrap)
  @ApiOperation({ operationId: 'rewrap', summary: 'Re-encrypt ciphertexts of older versions under the current version (no new version)' })
  @ApiOkResponse({ type: RewrapResponse })
  @ApiBadRequestResponse({ description: 'ENC001: invalid input; ENC002: an item failed authentication (index named)', type: ErrorResponse })
  async rewrap(@Body() request: RewrapRequest): Promise<RewrapResponse> {
    return { rewrappedData: await this.rotation.rewrap(request.userId, request.data) };
  }
}
