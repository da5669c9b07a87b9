import { Controller, Get, Inject, NotFoundException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../common/decorators/public.decorator';
import { LocalIssuer, SIGNING_KEY_SOURCE, SigningKeySource } from './signing-keys';

/** Publishes the local issuer's JWKS (AUTH_MODE=local); Cognito publishes its own. */
@ApiExcludeController()
@Controller('.well-known')
export class JwksController {
  constructor(@Inject(SIGNING_KEY_SOURCE) private readonly signingKeys: SigningKeySource) {}

  @Public()
  @Get('jwks.json')
  jwks() {
    if (!(this.signingKeys instanceof LocalIssuer)) throw new NotFoundException();
    return this.signingKeys.jwks();
  }
}
