import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';

/**
 * The checks of a probe by name (database, keyProvider, signingKeys, redis, shredLog): each its
 * status and its numbers (counts, response time) only, never a dependency's error text (logged instead).
 */
const checks = (description: string, example: object) =>
  ApiProperty({
    type: 'object',
    description,
    example,
    additionalProperties: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['up', 'degraded', 'down'] } },
      additionalProperties: { type: 'number', description: 'A count or duration of the check (e.g. responseTime, replayed)' },
    },
  } as ApiPropertyOptions);

/** The answer of a probe that passed. */
export class HealthCheckResponse {
  @ApiProperty({
    enum: ['ok', 'degraded'],
    description:
      'degraded: Redis is unreachable (every request is still served), or, after the first ready answer, KMS or the JWKS ' +
      'fails (requests that need it answer 503 SYS002; encrypt and cached decrypts keep working)',
    example: 'ok',
  })
  status: 'ok' | 'degraded';

  @checks('Checks that are up or degraded', { database: { status: 'up', responseTime: 4 } })
  info: Record<string, { status: string }>;

  @checks('Checks that are down (none when the probe passes)', {})
  error: Record<string, { status: string }>;

  @checks('Every check', { database: { status: 'up', responseTime: 4 } })
  details: Record<string, { status: string }>;
}
