import { ApiProperty } from '@nestjs/swagger';
import { IsUserId } from '../../common/validation';
import { USER_ID_EXAMPLE, USER_ID_PATTERN } from '../../common/user-id';

export class CreateKeyRequest {
  @ApiProperty({ description: 'The end user (data subject) the key pair belongs to', example: USER_ID_EXAMPLE, pattern: USER_ID_PATTERN.source })
  @IsUserId()
  userId: string;
}

export class CreateKeyResponse {
  @ApiProperty({ example: true })
  success: true;

  @ApiProperty({ description: 'false when the user already had an active key (idempotent)', example: true })
  created: boolean;

  @ApiProperty({ example: 1 })
  keyVersion: number;
}
