import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsPurpose, IsStringArray, IsUserId } from '../../common/validation';
import { LIMIT_DEFAULTS, MAX_PURPOSE_LENGTH } from '../../common/limits';
import { USER_ID_EXAMPLE, USER_ID_PATTERN } from '../../common/user-id';

const EXAMPLE_CIPHERTEXT = 'ek1:1:dGhlLXdyYXBwZWQta2V5Li4u:AAECAwQFBgcICQoL:c2VjcmV0:AAECAwQFBgcICQoLDA0ODw';

class UserBatchRequest {
  @ApiProperty({ description: 'The end user whose key is used', example: USER_ID_EXAMPLE, pattern: USER_ID_PATTERN.source })
  @IsUserId()
  userId: string;
}

export class EncryptRequest extends UserBatchRequest {
  @ApiProperty({
    description: `Strings to encrypt, at most MAX_BATCH_ITEMS (default ${LIMIT_DEFAULTS.maxBatchItems}) of at most MAX_ITEM_BYTES (default ${LIMIT_DEFAULTS.maxItemBytes}) UTF-8 bytes each`,
    type: [String],
    example: ['Jane Doe', '046 454 286'],
  })
  @IsStringArray()
  data: string[];
}

export class DecryptRequest extends UserBatchRequest {
  @ApiProperty({ description: 'Ciphertexts returned by /encrypt (any version of this user still kept)', type: [String], example: [EXAMPLE_CIPHERTEXT] })
  @IsStringArray()
  data: string[];

  @ApiPropertyOptional({
    description: `Why the data is decrypted, recorded in the audit trail and shown in the person's access report (required when AUDIT_REQUIRE_PURPOSE=true); printable text, at most ${MAX_PURPOSE_LENGTH} characters`,
    example: 'estate settlement: executor statement',
    maxLength: MAX_PURPOSE_LENGTH,
  })
  @IsOptional()
  @IsPurpose()
  purpose?: string;
}

export class EncryptResponse {
  @ApiProperty({ description: 'One ciphertext per input item, same order', type: [String], example: [EXAMPLE_CIPHERTEXT] })
  encryptedData: string[];
}

export class DecryptResponse {
  @ApiProperty({ description: 'One plaintext per input item, same order', type: [String], example: ['Jane Doe'] })
  decryptedData: string[];
}
