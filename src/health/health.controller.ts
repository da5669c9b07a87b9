import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from '../auth/decorators';
import { ApiError } from '../common/api-error';
import { SIGNING_KEY_SOURCE, SigningKeySource } from '../auth/signing-keys';
import { KEY_PROVIDER, KeyProvider } from '../crypto/key-provider/key-provider';

const CHECK_TIMEOUT_MS = 3000;
/** KMS DescribeKey and the JWKS fetch are cached briefly so probes do not hammer them. */
const DEPENDENCY_CACHE_MS = 5000;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: TypeOrmHealthIndicator,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    @Inject(SIGNING_KEY_SOURCE) private readonly signingKeys: SigningKeySource,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process answers (no dependency checks)' })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: database reachable, key provider usable, signing keys loaded' })
  ready() {
    return this.health
      .check([
      () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('keyProvider')
          .attempt(() => this.keyProvider.checkHealth())
          .withTimeout(CHECK_TIMEOUT_MS)
          .cacheFor(DEPENDENCY_CACHE_MS),
      () =>
        this.indicators
          .check('signingKeys')
          .attempt(() => this.signingKeys.checkHealth())
          .withTimeout(CHECK_TIMEOUT_MS)
          .cacheFor(DEPENDENCY_CACHE_MS),
      ])
      .catch((error: unknown) => {
        if (!(error instanceof ServiceUnavailableException)) throw error;
        throw new ApiError('SYS002', 'Service is not ready', { details: error.getResponse() });
      });
  }
}
