import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { Audited } from '../common/decorators/audited.decorator';
import { CountsAgainstDecryptBudget } from '../common/decorators/decrypt-budget.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { RewrapRequest, RewrapResponse, RotateRequest, RotateResponse } from './dto/rotation.dto';
import { RotationService } from './rotation.service';
import { describeRewrap, describeRotate } from './rotation.audit';

@ApiTags('rotation')
@Controller()
export class RotationController {
  constructor(private readonly rotation: RotationService) {}

  @Post('rotate')
  @HttpCode(200)
  @RequirePermission('rotate', Subject.named('userId'))
  @Audited('rotate', describeRotate)
  @CountsAgainstDecryptBudget('userId')
  @ApiOperation({ operationId: 'rotateKey', summary: 'Create a new key version and re-encrypt every ciphertext found in `data` under it' })
  @ApiOkResponse({ type: RotateResponse })
  @ApiErrors({
    ENC001: 'invalid input, or a malformed ciphertext (its JSON path is named); no version is created',
    ENC002: 'a ciphertext failed authentication (its JSON path, such as data[3].account.sin, is named); no version is created',
    KEY001: 'the user has no key',
    KEY002: 'a rotation for this user is already in progress',
  })
  rotate(@Body() request: RotateRequest): Promise<RotateResponse> {
    return this.rotation.rotate(request.userId, request.data, request.reason ?? 'manual');
  }

  @Post('rewrap')
  @HttpCode(200)
  @RequirePermission('rotate', Subject.named('userId'))
  @Audited('rewrap', describeRewrap)
  @CountsAgainstDecryptBudget('userId')
  @ApiOperation({ operationId: 'rewrap', summary: 'Re-encrypt ciphertexts of older versions under the current version (no new version)' })
  @ApiOkResponse({ type: RewrapResponse })
  @ApiErrors({
    ENC001: 'invalid input or a malformed ciphertext (its index is named)',
    ENC002: 'an item failed authentication: tampered, not this user’s, or of a purged version (its index is named)',
    KEY001: 'the user has no key',
  })
  async rewrap(@Body() request: RewrapRequest): Promise<RewrapResponse> {
    return { rewrappedData: await this.rotation.rewrap(request.userId, request.data) };
  }
}
