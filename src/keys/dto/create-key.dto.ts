import { ApiProperty } from '@nestjs/swagger';
import { UserIdField } from '../../common/decorators/fields.decorator';

export class CreateKeyRequest {
  @UserIdField({ description: 'The end user (data subject) the key pair belongs to' })
  userId: string;
}

export class CreateKeyResponse {
  @ApiProperty({ enum: [true], example: true })
  success: true;

  @ApiProperty({ description: 'false when the user already had an active key (idempotent)', example: true })
  created: boolean;

  @ApiProperty({ type: 'integer', minimum: 1, example: 1 })
  keyVersion: number;
}
