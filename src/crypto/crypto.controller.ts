import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { ApiError } from '../common/api-error';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { Audited } from '../common/decorators/audited.decorator';
import { CountsAgainstDecryptBudget } from '../common/decorators/decrypt-budget.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { CryptoService } from './crypto.service';
import { describeDecrypt, describeEncrypt } from './crypto.audit';
import { DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse } from './dto/batch.dto';

@ApiTags('encryption')
@Controller()
export class CryptoController {
  constructor(private readonly crypto: CryptoService) {}

  @Post('encrypt')
  @HttpCode(200)
  @RequirePermission('encrypt', Subject.named('userId'))
  @Audited('encrypt', describeEncrypt)
  @ApiOperation({ operationId: 'encrypt', summary: 'Encrypt a batch of strings under the user’s current key' })
  @ApiOkResponse({ type: EncryptResponse })
  @ApiErrors({
    ENC001: 'invalid input: the field, or the index of the first item over MAX_ITEM_BYTES (or, with `index`, not normalising), is named',
    KEY001: 'the user has no key',
    KEY005: true,
    IDX001: '`index` names no blind index',
    AUTH002: 'with `index`: the token lacks the `index` permission',
  })
  encrypt(@Body() request: EncryptRequest, @CurrentPrincipal() caller: Principal): Promise<EncryptResponse> {
    const index = request.index ?? undefined;
    // An index is a lookup capability of its own: asking for one needs `index` as well as `encrypt`.
    if (index !== undefined && !caller?.permissions.has('index')) {
      throw new ApiError('AUTH002', 'Computing a blind index with /encrypt needs the index permission as well');
    }
    return this.crypto.encryptAndIndex(request.userId, request.data, index);
  }

  @Post('decrypt')
  @HttpCode(200)
  @RequirePermission('decrypt', Subject.named('userId'))
  @Audited('decrypt', describeDecrypt)
  @CountsAgainstDecryptBudget('userId')
  @ApiOperation({ operationId: 'decrypt', summary: 'Decrypt a batch of the user’s ciphertexts (all or nothing)' })
  @ApiOkResponse({ type: DecryptResponse })
  @ApiErrors({
    ENC001: 'invalid input or a malformed ciphertext (its index is named); purpose missing while AUDIT_REQUIRE_PURPOSE=true',
    ENC002: 'an item failed authentication: tampered, not this user’s, or of a purged version (its index is named)',
    KEY001: 'the user has no key',
    KEY005: true,
  })
  async decrypt(@Body() request: DecryptRequest): Promise<DecryptResponse> {
    return { decryptedData: await this.crypto.decrypt(request.userId, request.data) };
  }
}
