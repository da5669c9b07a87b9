import { ApiProperty } from '@nestjs/swagger';
import { USER_ID_PATTERN } from '../../common/user-id';

const USER_ID = { type: 'string', pattern: USER_ID_PATTERN.source, example: '42' } as const;
const KEY_VERSION = { type: 'integer', minimum: 1, example: 3 } as const;
const INSTANT = { type: 'string', format: 'date-time' } as const;

/** DELETE /keys/{userId} within the deletion window (SHRED_PENDING_DAYS > 0): the keys are pending deletion. */
export class PendingDeletionResponse {
  @ApiProperty(USER_ID)
  userId: string;

  @ApiProperty({
    enum: ['pending-deletion'],
    description:
      'The keys are pending deletion: every use of them (encrypt, decrypt, rotate, rewrap, translate, canaries, GET /keys) is refused with 409 KEY005 on every replica from now on, until they are destroyed at `destroysAt`; POST /keys/{userId}/cancel-deletion restores them until then',
    example: 'pending-deletion',
  })
  state: 'pending-deletion';

  @ApiProperty({ ...KEY_VERSION, description: 'The current key version, destroyed with every retired one' })
  keyVersion: number;

  @ApiProperty({
    ...INSTANT,
    description: 'When the deletion was asked for (the first DELETE; a repeated one changes nothing)',
    example: '2026-11-25T10:00:00.000Z',
  })
  deletionRequestedAt: string;

  @ApiProperty({
    ...INSTANT,
    description:
      'When the keys are destroyed: SHRED_PENDING_DAYS after the request. The scheduled job (SHRED_CRON, hourly by default) destroys them at its first run from then on, and a DELETE answers the signed crypto-shred receipt after that',
    example: '2026-12-02T10:00:00.000Z',
  })
  destroysAt: string;
}

/** POST /keys/{userId}/cancel-deletion. */
export class CancelDeletionResponse {
  @ApiProperty(USER_ID)
  userId: string;

  @ApiProperty({ ...KEY_VERSION, description: 'The current key version, usable again' })
  keyVersion: number;

  @ApiProperty({ description: 'true: a pending deletion was cancelled, the keys are usable again; false: none was pending', example: true })
  cancelled: boolean;
}
