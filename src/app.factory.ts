import { readFileSync } from 'node:fs';
import { INestApplication, RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { json } from 'express';
import helmet from 'helmet';
import { Logger as PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { allowedMethods, RouterLike } from './common/allowed-methods';
import { ERROR_RESPONSE_HOOK, HttpExceptionFilter, routeNotFoundHandler } from './common/http-exception.filter';
import { jsonBodyVerifier } from './common/json-bounds';
import { createOpenApiDocument } from './common/openapi-document';
import { MAX_JSON_DEPTH } from './common/limits';
import { requestIdMiddleware } from './common/request-id';
import { createValidationPipe } from './common/validation';
import { armFailpoints } from './common/failpoints';
import { AppConfig, loadAppConfig } from './config/app-config';
import { ciphertextBodyLimitBytes, maxAnyCiphertextLength } from './envelope/ciphertexts';
import { GracefulShutdown } from './health/graceful-shutdown.service';
import { StartupGate } from './health/startup-gate.service';
import { RequestLogging } from './logging/request-logging.middleware';
import { MetricsService } from './metrics/metrics.service';

export const API_PREFIX = 'api/v1';
/** The POST routes whose bodies carry ciphertexts, with their larger body limit (README, limits). */
export const CIPHERTEXT_ROUTES = ['decrypt', 'rewrap', 'rotate', 'translate'] as const;

/**
 * Builds the application exactly as it serves: body limit, prefix, validation, Swagger.
 * main.ts and the end-to-end tests both call this, so tests run the real wiring.
 */
export async function createApp(environment?: Record<string, string | undefined>): Promise<NestExpressApplication> {
  const appModule = AppModule.forRoot(environment);
  const app = await NestFactory.create<NestExpressApplication>(appModule, {
    httpsOptions: httpsOptions(environment),
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
    // Closing destroys the connections still open: main.ts has drained them first (SHUTDOWN_GRACE_MS).
    forceCloseConnections: true,
  });
  const config = app.get(AppConfig);
  armFailpoints(config.failpoints);
  app.useLogger(app.get(PinoLogger));
  app.disable('x-powered-by');
  // API answers are never cached, so an ETag is a digest of every body for nothing.
  app.set('etag', false);
  const server = app.getHttpServer();
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  server.headersTimeout = config.http.headersTimeoutMs;
  app.set('trust proxy', config.http.trustProxy);
  app.use(requestIdMiddleware);
  // Counts the requests in flight and sheds those beyond MAX_IN_FLIGHT_REQUESTS (counted, not logged one by one).
  app.use(app.get(GracefulShutdown).trackRequests);
  app.use(app.get(RequestLogging).middleware);
  app.use(app.get(MetricsService).recordHttpRequests);
  if (config.http.metricsPort) {
    // METRICS_PORT: main.ts serves /metrics on that port only; here it is an unknown route.
    const notFound = routeNotFoundHandler();
    app.use((request: Parameters<typeof notFound>[0], response: Parameters<typeof notFound>[1], next: () => void) =>
      request.path === '/metrics' ? notFound(request, response) : next(),
    );
  }
  // Until start-up work is done (the shred-log replay after a restore) only probes and metrics are served.
  app.use(app.get(StartupGate).refuseUntilOpen);
  app.use(helmet());
  if (config.http.corsOrigins.length) {
    app.enableCors({
      origin: config.http.corsOrigins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    });
  }
  // Depth, size and shape are checked on the raw bytes before JSON.parse or anything recursive
  // runs. Nest claims body-parser's `verify` only for `rawBody: true`, which this app does not use.
  const jsonParser = {
    limit: config.limits.bodyLimitBytes,
    strict: true,
    verify: jsonBodyVerifier({
      maxDepth: MAX_JSON_DEPTH,
      maxNodes: config.limits.maxJsonNodes,
      maxKeyBytes: config.limits.maxJsonKeyBytes,
    }),
  };
  // The routes that take ciphertexts accept what /encrypt answered for a body within BODY_LIMIT,
  // whichever format (ciphertextBodyLimitBytes); the parser that reads a body first is the one used.
  app.use(
    CIPHERTEXT_ROUTES.map((route) => `/${API_PREFIX}/${route}`),
    json({ ...jsonParser, limit: ciphertextBodyLimitBytes(config.limits.bodyLimitBytes, config.limits.maxBatchItems) }),
  );
  app.useBodyParser('json', jsonParser);
  app.setGlobalPrefix(API_PREFIX, {
    exclude: [
      { path: 'health/{*path}', method: RequestMethod.ALL },
      { path: '.well-known/{*path}', method: RequestMethod.ALL },
      { path: 'metrics', method: RequestMethod.ALL },
    ],
  });
  app.useGlobalPipes(createValidationPipe());
  // Read when a request matches no route: then the routes exist, and a known path with another method is 405.
  const methodsAt = allowedMethods((app.getHttpAdapter().getInstance() as unknown as { router?: RouterLike }).router);
  app.useGlobalFilters(new HttpExceptionFilter(app.get(ERROR_RESPONSE_HOOK), methodsAt));
  if (config.swaggerEnabled) setUpSwagger(app, config);
  await app.init();
  app.use(routeNotFoundHandler(methodsAt));
  return app;
}

/**
 * TLS_CERT_FILE and TLS_KEY_FILE, read once at start-up: the server is created with them, so they
 * are needed before Nest builds the configuration (AppModule.forRoot has already read `.env`).
 * A renewed certificate takes a restart (the chart's Reloader annotation, docs/operations.md 1.6).
 */
function httpsOptions(environment?: Record<string, string | undefined>): { cert: Buffer; key: Buffer } | undefined {
  const { tls } = loadAppConfig(environment ?? process.env).http;
  return tls && { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
}

function setUpSwagger(app: INestApplication, config: AppConfig): void {
  const limits = { ...config.limits, maxCiphertextLength: maxAnyCiphertextLength(config.limits.maxItemBytes) };
  const document = createOpenApiDocument(app, limits);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', swaggerOptions: { persistAuthorization: true } });
}
