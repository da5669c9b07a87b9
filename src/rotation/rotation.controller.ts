import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { MANUAL_ROTATIONS_PER_DAY, REQUEST_ID_PATTERN, ROTATION_REPLAY_HOURS } from '../common/limits';
import { REQUEST_ID_HEADER, RequestWithId } from '../common/request-id';
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
  @ApiOperation({
    operationId: 'rotateKey',
    summary: 'Create a new key version and re-encrypt every ciphertext found in `data` under it',
    description:
      `An error answer means no version was created. A 200 answer means the rotation committed, even when its audit event ` +
      `could not be stored (\`auditEventStored: false\`). Send an X-Request-Id: a retry with the same id and the same body ` +
      `within ${ROTATION_REPLAY_HOURS} hours answers the committed rotation again (\`replayed: true\`) instead of rotating twice. ` +
      `At most ${MANUAL_ROTATIONS_PER_DAY} rotations of one user in 24 hours (the scheduled job's not counted).`,
  })
  @ApiHeader({
    name: REQUEST_ID_HEADER,
    required: false,
    description: `The retry key of a rotation (per caller and user, kept ${ROTATION_REPLAY_HOURS} hours): a retry with the same id and body answers the first rotation's result`,
    schema: { type: 'string', pattern: REQUEST_ID_PATTERN.source },
  })
  @ApiOkResponse({ type: RotateResponse })
  @ApiErrors({
    ENC001: 'invalid input, or a malformed ciphertext (its JSON path is named); no version is created',
    ENC002: 'a ciphertext failed authentication (its JSON path, such as data[3].account.sin, is named); no version is created',
    KEY001: 'the user has no key',
    KEY005: true,
    KEY002:
      'a rotation for this user is already in progress (a retry with the same X-Request-Id may come while the first call is still committing: try again)',
    KEY003: `the user's key was rotated ${MANUAL_ROTATIONS_PER_DAY} times by /rotate in the past 24 hours; Retry-After says when the next is possible; no version is created`,
    KEY004: 'this X-Request-Id already answered a /rotate of this user by this caller with another body; nothing is rotated',
  })
  rotate(@Body() request: RotateRequest, @CurrentPrincipal() caller: Principal, @Req() http: RequestWithId): Promise<RotateResponse> {
    // Only an id the caller sent is a retry key (one generated here is new by construction).
    const requestId = http.header(REQUEST_ID_HEADER) === http.requestId ? (http.requestId ?? null) : null;
    return this.rotation.rotate(request.userId, request.data, request.reason ?? 'manual', { sub: caller.sub, requestId });
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
    KEY005: true,
  })
  async rewrap(@Body() request: RewrapRequest): Promise<RewrapResponse> {
    return { rewrappedData: await this.rotation.rewrap(request.userId, request.data) };
  }
}
