import { ApiProperty } from '@nestjs/swagger';
import { ERROR_CODES } from './error-codes';

/** The body of every error (README, errors). */
export class ErrorResponse {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ enum: Object.keys(ERROR_CODES), example: 'ENC001' })
  code: string;

  @ApiProperty({ example: 'data[3] exceeds 65536 bytes' })
  message: string;

  @ApiProperty({ example: '5f0c8a4e-8b1e-4d3c-9a57-3f2b1c0d9e8a' })
  requestId: string;
}
