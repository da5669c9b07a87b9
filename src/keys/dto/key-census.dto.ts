import { ApiProperty } from '@nestjs/swagger';
import { RSA_OAEP_256, X_WING } from '../../envelope/ciphertexts';

/** People's current keys by algorithm: how far the move to X-Wing has come (docs/operations.md 2.6). */
export class CurrentKeysByAlgorithm {
  @ApiProperty({ type: 'integer', minimum: 0, description: 'People whose current key version is X-Wing (ek2)', example: 1200 })
  [X_WING]: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'People whose current key version is still RSA-OAEP-256 (ek1): their next rotation moves them to KEY_ALGORITHM',
    example: 34,
  })
  [RSA_OAEP_256]: number;
}

export class KeyCensusView {
  @ApiProperty({ type: CurrentKeysByAlgorithm, description: 'People with an active key, by the algorithm of their current key version' })
  currentKeys: CurrentKeysByAlgorithm;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    description:
      'When the count was made: at most a minute ago (one count per replica a minute, shared with the pii_api_current_keys_by_algorithm gauge)',
  })
  countedAt: string;
}
