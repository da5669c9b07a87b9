import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission } from '../common/decorators/require-permission.decorator';
import { ErrorResponse } from '../common/error-response.dto';
import { CryptoService } from './crypto.service';
import { describeDecrypt, describeEncrypt } from './crypto.audit';
import { DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse } from './dto/batch.dto';

@ApiTags('encryption')
@ApiNotFoundResponse({ description: 'KEY001: the user has no key', type: ErrorResponse })
@Controller()
export class CryptoController {
  constructor(private readonly crypto: CryptoService) {}

  @Post('encrypt')
  @HttpCode(200)
  @RequirePermission('encrypt')
  @Audited('encrypt', describeEncrypt)
  @ApiOperation({ operationId: 'encrypt', summary: 'Encrypt a batch of strings under the user’s current key' })
  @ApiOkResponse({ type: EncryptResponse })
  @ApiBadRequestResponse({ description: 'ENC001: invalid input (the field or item index is named)', type: ErrorResponse })
  async encrypt(@Body() request: EncryptRequest): Promise<EncryptResponse> {
    return { encryptedData: await this.crypto.encrypt(request.userId, request.data) };
  }

  @Post('decrypt')
  @HttpCode(200)
  @RequirePermission('decrypt')
  @Audited('decrypt', describeDecrypt)
  @ApiOperation({ operationId: 'decrypt', summary: 'Decrypt a batch of the user’s ciphertexts (all or nothing)' })
  @ApiOkResponse({ type: DecryptResponse })
  @ApiBadRequestResponse({ description: 'ENC001: malformed input; ENC002: an item failed authentication (its index is named)', type: ErrorResponse })
  async decrypt(@Body() request: DecryptRequest): Promise<DecryptResponse> {
    return { decryptedData: await this.crypto.decrypt(request.userId, request.data) };
  }
}
