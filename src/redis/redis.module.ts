import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from './redis-connection';

@Global()
@Module({
  providers: [
    {
      provide: RedisConnection,
      inject: [AppConfig, MetricsService],
      useFactory: (config: AppConfig, metrics: MetricsService) => new RedisConnection(config, metrics),
    },
  ],
  exports: [RedisConnection],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(RedisConnection) private readonly redis: RedisConnection) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.close();
  }
}
