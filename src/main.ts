// First: tracing (when configured) must patch http, express, pg, Redis and the AWS SDK before they load.
import { stopTracing } from './tracing';
import 'reflect-metadata';
import type { ListenOptions } from 'node:net';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ListeningSockets } from './common/listening-sockets';
import { AppConfig, ConfigValidationError, productionWarnings } from './config/app-config';
import { GracefulShutdown } from './health/graceful-shutdown.service';
import { closeMetricsServer, serveMetrics } from './metrics/metrics-server';
import { MetricsService } from './metrics/metrics.service';

async function bootstrap(): Promise<void> {
  const logger = new Logger('Bootstrap');
  const app = await createApp();
  const config = app.get(AppConfig);
  // Unsafe settings production accepts: one warning line each (README, Production setup).
  for (const warning of productionWarnings(config)) logger.warn(`Unsafe in production: ${warning}`);
  // Nest hands listen's arguments to Node's server.listen(options); its typing knows only a port.
  const listen = app.listen.bind(app) as unknown as (options: ListenOptions) => Promise<unknown>;
  const { port, http } = config;
  const listener = await ListeningSockets.open(app.getHttpServer(), listen, { port, backlog: http.backlog, count: http.listenSockets });
  // METRICS_PORT: /metrics there only (the API port answers it 404), so a network policy can keep it to the scraper.
  const metricsServer = config.http.metricsPort ? await serveMetrics(app.get(MetricsService), config.http.metricsPort) : undefined;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app
        .get(GracefulShutdown)
        .drain(signal, listener)
        .then(() => app.close())
        .then(() => metricsServer && closeMetricsServer(metricsServer))
        .then(() => stopTracing())
        .then(
          () => {
            logger.log('Stopped: requests finished, connections closed');
            process.exit(0);
          },
          (error: unknown) => {
            logger.error(`Shutdown failed: ${(error as Error)?.name ?? error}`);
            process.exit(1);
          },
        );
    });
  }
  logger.log(
    `Listening on port ${config.port} (${listener.count} socket${listener.count > 1 ? 's' : ''}) over ${config.http.tls ? 'HTTPS' : 'HTTP'}` +
      `${config.http.metricsPort ? `, /metrics on port ${config.http.metricsPort}` : ''} (NODE_ENV=${config.nodeEnv}, key provider ${config.keys.provider}, ` +
      `${config.database.url ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`}, ` +
      `${config.cache.redisUrl ? 'Redis' : 'in-memory'} cache, auth ${config.auth.mode})`,
  );
  if (config.swaggerEnabled) logger.log(`Swagger UI: ${config.http.tls ? 'https' : 'http'}://localhost:${config.port}/docs`);
  if (config.auth.mode === 'local') {
    logger.log('Local token issuer active: run `npm run token` for a bearer token with every permission');
  }
}

bootstrap().catch((error: unknown) => {
  const message = error instanceof ConfigValidationError ? error.message : `Start-up failed: ${(error as Error)?.message ?? error}`;
  new Logger('Bootstrap').fatal(message);
  process.exit(1);
});
