import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const INSTANT = { type: 'string', format: 'date-time' } as const;

/** The mass-destruction breaker (README "Mass-destruction breaker"), one for the whole cluster. */
export class ShredBreakerView {
  @ApiProperty({ description: 'True: no DELETE /keys destroys keys (429 SHRED001) until two people lift the breaker', example: false })
  tripped: boolean;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'How many times the breaker has tripped; while tripped, the number a lift request names as its target',
    example: 0,
  })
  trip: number;

  @ApiPropertyOptional({ ...INSTANT, description: 'When the current trip happened (only while tripped)' })
  trippedAt?: string;

  @ApiProperty({
    type: 'integer',
    description: 'SHRED_MAX_PER_HOUR: crypto-shreds by DELETE /keys in a sliding hour, cluster-wide',
    example: 100,
  })
  maxPerHour: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Crypto-shreds by DELETE /keys counted in the past hour (since the last lift, if later)',
    example: 3,
  })
  destroyedInWindow: number;

  @ApiPropertyOptional({ ...INSTANT, description: 'When it was last lifted' })
  liftedAt?: string;

  @ApiPropertyOptional({ description: 'Who ran the last lift (token `sub`)', example: 'security-officer-1' })
  liftedBy?: string;

  @ApiPropertyOptional({
    description: 'Who approved the last lift (token `sub`); absent when DUAL_CONTROL=off',
    example: 'security-officer-2',
  })
  approvedBy?: string;
}
