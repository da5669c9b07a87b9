import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ApiErrors } from '../../common/decorators/api-errors.decorator';
import { Audited } from '../../common/decorators/audited.decorator';
import { invalidInput } from '../../common/api-error';
import { CurrentPrincipal } from '../current-principal.decorator';
import { RequirePermission, Subject } from '../../common/decorators/require-permission.decorator';
import type { Principal } from '../principal';
import { RevokeTokenById, RevokeTokenByToken, RevokeTokenRequest, RevokeTokenResponse } from './dto/revoke-token.dto';
import { TokenRevocations } from './token-revocation.service';
import { describeTokenRevoke } from './revocation.audit';

@ApiTags('tokens')
@Controller('tokens')
export class RevocationController {
  constructor(private readonly revocations: TokenRevocations) {}

  @Post('revoke')
  @HttpCode(200)
  @RequirePermission('tokens:revoke', Subject.operator())
  @Audited('token.revoke', describeTokenRevoke)
  @ApiOperation({ operationId: 'revokeToken', summary: 'Revoke an access token: every replica refuses it (AUTH001) until it expires' })
  @ApiExtraModels(RevokeTokenById, RevokeTokenByToken)
  @ApiBody({
    description: 'Exactly one of jti and token',
    schema: { oneOf: [{ $ref: getSchemaPath(RevokeTokenById) }, { $ref: getSchemaPath(RevokeTokenByToken) }] },
  })
  @ApiOkResponse({ type: RevokeTokenResponse })
  @ApiErrors({ ENC001: 'neither or both of jti and token, an invalid one, or a token this service does not trust' })
  async revoke(@Body() request: RevokeTokenRequest, @CurrentPrincipal() principal: Principal): Promise<RevokeTokenResponse> {
    if ((request.jti === undefined) === (request.token === undefined)) throw invalidInput('give exactly one of jti and token');
    const until = request.token
      ? await this.revocations.revokeToken(request.token, principal.sub)
      : await this.revocations.revokeId(request.jti!, principal.sub);
    return { revoked: true, until: until.toISOString() };
  }
}
