import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PatternField, StringBatchField, UserIdField } from '../../common/decorators/fields.decorator';
import { LIMIT_DEFAULTS, MAX_PURPOSE_LENGTH, PURPOSE_PATTERN } from '../../common/limits';
import { formatCiphertext } from '../../envelope/ciphertext-format';
import { ANY_CIPHERTEXT_PATTERN, maxAnyCiphertextLength } from '../../envelope/ciphertexts';
import { BlindIndexAnswer, IndexNameField } from '../../indexes/dto/index.dto';

/**
 * A ciphertext of the documented format made of fixed bytes, so that the document never changes:
 * it passes validation everywhere, and fails authentication (ENC002) on every real key.
 */
export const EXAMPLE_CIPHERTEXT = formatCiphertext({
  keyVersion: 1,
  wrappedKey: Buffer.alloc(256, 0x5a),
  iv: Buffer.alloc(12, 0x01),
  ciphertext: Buffer.alloc(8, 0x33),
  tag: Buffer.alloc(16, 0x02),
});

/** A batch of ciphertexts of one user, as /decrypt and /rewrap take them. */
export const CiphertextBatchField = (description: string) =>
  StringBatchField({
    description: `${description}. At most MAX_BATCH_ITEMS items, each in the ek1 (RSA-OAEP-256 key versions) or ek2 (X-Wing) format (docs/ciphertext-format.md)`,
    example: [EXAMPLE_CIPHERTEXT],
    items: {
      pattern: ANY_CIPHERTEXT_PATTERN,
      maxLength: maxAnyCiphertextLength(LIMIT_DEFAULTS.maxItemBytes),
      description: 'An ek1 or ek2 ciphertext',
    },
    itemLimit: 'maxCiphertextLength',
  });

/** Ciphertexts as the service returns them. */
export const ApiCiphertexts = (description: string) =>
  ApiProperty({
    description: `${description}: ek2 for a key version of X-Wing, ek1 for RSA-OAEP-256`,
    type: 'array',
    items: { type: 'string', pattern: ANY_CIPHERTEXT_PATTERN.source },
    example: [EXAMPLE_CIPHERTEXT],
  });

export class EncryptRequest {
  @UserIdField({ description: 'The end user whose key is used' })
  userId: string;

  @StringBatchField({
    description: 'Strings to encrypt: at most MAX_BATCH_ITEMS items of at most MAX_ITEM_BYTES UTF-8 bytes each',
    example: ['Jane Doe', '046 454 286'],
    items: {
      maxLength: LIMIT_DEFAULTS.maxItemBytes,
      description: 'At most MAX_ITEM_BYTES UTF-8 bytes (maxLength counts characters, so it is a looser bound)',
    },
    itemLimit: 'maxItemBytes',
  })
  data: string[];

  @IndexNameField({
    required: false,
    nullable: true,
    description:
      'A blind index (docs/blind-indexes.md): the answer then carries blindIndexes, one index per item computed from the same plaintexts',
  })
  index?: string | null;
}

export class DecryptRequest {
  @UserIdField({ description: 'The end user whose key is used' })
  userId: string;

  @CiphertextBatchField('Ciphertexts returned by /encrypt (any version of this user still kept)')
  data: string[];

  @PatternField(PURPOSE_PATTERN, {
    required: false,
    nullable: true,
    maxLength: MAX_PURPOSE_LENGTH,
    minLength: 1,
    message: `must be printable text of 1 to ${MAX_PURPOSE_LENGTH} characters, not only spaces`,
    description: `Why the data is decrypted, recorded in the audit trail and shown in the person's access report (required when AUDIT_REQUIRE_PURPOSE=true): 1 to ${MAX_PURPOSE_LENGTH} letters, digits, punctuation, symbols and spaces, not only spaces`,
    example: 'estate settlement: executor statement',
  })
  purpose?: string | null;
}

export class EncryptResponse {
  @ApiCiphertexts('One ciphertext per input item, same order')
  encryptedData: string[];

  @ApiPropertyOptional({ type: BlindIndexAnswer, description: 'With `index` only: one blind index per item, same order' })
  blindIndexes?: BlindIndexAnswer;
}

export class DecryptResponse {
  @ApiProperty({ description: 'One plaintext per input item, same order', type: [String], example: ['Jane Doe'] })
  decryptedData: string[];
}
