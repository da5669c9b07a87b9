import { Controller, Get, Inject, Logger, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { HealthCheckResponse } from './dto/health.dto';
import { SkipThrottle } from '@nestjs/throttler';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from '../common/decorators/public.decorator';
import { ApiError } from '../common/api-error';
import { SIGNING_KEY_SOURCE, SigningKeySource } from '../auth/signing-keys';
import { KEY_PROVIDER, KeyProvider } from '../key-provider/key-provider';
import { RedisConnection } from '../redis/redis-connection';
import { GracefulShutdown } from './graceful-shutdown.service';
import { problemSummary, publicHealth } from './public-health';
import { StartupGate } from './startup-gate.service';

const CHECK_TIMEOUT_MS = 3000;
/** KMS DescribeKey and the JWKS fetch are cached briefly so probes do not hammer them. */
const DEPENDENCY_CACHE_MS = 5000;

@ApiTags('health')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');
  /** The problems last logged: a probe that fails the same way again adds no line. */
  private loggedProblems = '';
  /** Readiness has answered 200 once: from then on a KMS or JWKS failure is `degraded`, not `down`. */
  private startedOnce = false;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: TypeOrmHealthIndicator,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    @Inject(SIGNING_KEY_SOURCE) private readonly signingKeys: SigningKeySource,
    private readonly redis: RedisConnection,
    private readonly shutdown: GracefulShutdown,
    private readonly startup: StartupGate,
  ) {}

  @Get('live')
  // Documented here: the library's own 503 schema is not the error body this service answers with.
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({ operationId: 'checkLiveness', summary: 'Liveness: the process answers (no dependency checks)' })
  @ApiOkResponse({ type: HealthCheckResponse })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  // Documented here: the library's own 503 schema is not the error body this service answers with.
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({
    operationId: 'checkReadiness',
    summary:
      'Readiness: database reachable, key provider usable, signing keys loaded, start-up work done (shredLog: the ' +
      'shred-log replay after a restore, with the count of shreds replayed); 503 while shutting down. ' +
      'Redis is optional: when it is unreachable the answer stays 200 with redis "degraded". Once the process has ' +
      'answered ready, a KMS (keyProvider) or JWKS (signingKeys) failure also shows as "degraded" with 200 (it fails ' +
      'every replica alike; requests that need it answer 503 SYS002); before that it answers 503. Each check shows its ' +
      'status and its numbers only (counts, response time); why a check failed is logged, never answered.',
  })
  @ApiOkResponse({
    type: HealthCheckResponse,
    description: 'Ready; a Redis that cannot be reached, and after the first ready answer KMS or the JWKS, show as degraded',
  })
  @ApiErrors({ SYS002: 'not ready: a check failed (`details` holds the result of each check), or the process is shutting down' })
  ready() {
    if (this.shutdown.isDraining) throw new ApiError('SYS002', 'Service is shutting down');
    return this.health
      .check([
        () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
        () => this.sharedDependency('keyProvider', () => this.keyProvider.checkHealth()),
        () => this.sharedDependency('signingKeys', () => this.signingKeys.checkHealth()),
        ...this.startup.entries().map(([name, task]) => () => {
          const check = this.indicators.check(name);
          return task.done ? check.up(task.detail) : check.down(task.detail);
        }),
        ...(this.redis.isConfigured ? [() => this.checkRedis()] : []),
      ])
      .then(
        (result) => {
          this.startedOnce = true;
          this.logProblems('Degraded', result);
          return publicHealth(result);
        },
        (error: unknown) => {
          if (!(error instanceof ServiceUnavailableException)) throw error;
          const result = error.getResponse() as HealthCheckResult;
          this.logProblems('Not ready', result);
          throw new ApiError('SYS002', 'Service is not ready', { details: publicHealth(result) });
        },
      );
  }

  /**
   * KMS and the JWKS fail for every replica at once: before this process first answered ready, a
   * failure keeps it unready (it cannot serve); once it has, a failure shows as `degraded` and the
   * process stays in the load balancer, its requests failing through the breakers (503 SYS002)
   * while encrypt and warm decrypts keep working, instead of every replica turning unready together.
   */
  private async sharedDependency(name: 'keyProvider' | 'signingKeys', check: () => Promise<Record<string, unknown>>) {
    const result = await this.indicators.check(name).attempt(check).withTimeout(CHECK_TIMEOUT_MS).cacheFor(DEPENDENCY_CACHE_MS);
    const { status, ...detail } = result[name];
    return status === 'down' && this.startedOnce ? this.indicators.check(name).degraded(detail) : result;
  }

  /** The dependency's own error text goes to the log only (it may name hosts, roles, key ARNs); once per change. */
  private logProblems(what: 'Not ready' | 'Degraded', result: HealthCheckResult): void {
    const problems = problemSummary(result);
    const line = problems && `${what}: ${problems}`;
    if (line === this.loggedProblems) return;
    this.loggedProblems = line;
    if (line) this.logger.warn(line);
  }

  /** Bounded by REDIS_TIMEOUT_MS; never `down`, since every request still succeeds without Redis. */
  private async checkRedis() {
    const redis = this.indicators.check('redis');
    try {
      await this.redis.probe();
      return redis.up();
    } catch {
      return redis.degraded({ message: 'Redis is unavailable; serving from the database and reconnecting' });
    }
  }
}
