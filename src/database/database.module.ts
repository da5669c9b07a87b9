import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions';
import { AppConfig } from '../config/app-config';
import { EMBEDDED_POOL_SIZE, EmbeddedPostgres } from './embedded-postgres';
import { runMigrationsExclusively } from './migrate';
import { MIGRATIONS } from './migrations';

export const DB_POOL_SIZE = 10;
const EMBEDDED_DATABASE = Symbol('EMBEDDED_DATABASE');

/** Starts the embedded PGlite server when DATABASE_URL is unset, and stops it at shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: EMBEDDED_DATABASE,
      inject: [AppConfig],
      useFactory: ({ database, dataDir }: AppConfig) => (database.url ? null : EmbeddedPostgres.start(dataDir)),
    },
  ],
  exports: [EMBEDDED_DATABASE],
})
class EmbeddedDatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(EMBEDDED_DATABASE) private readonly embedded: EmbeddedPostgres | null) {}

  async onApplicationShutdown(): Promise<void> {
    await this.embedded?.stop().catch(() => undefined);
  }
}

const poolLogger = new Logger('Database');

/**
 * Connection settings for PostgreSQL (DATABASE_URL) or the embedded server: same driver, same SQL.
 * On PostgreSQL every statement is bounded: the server cancels it after
 * DATABASE_STATEMENT_TIMEOUT_MS, and the client gives up a second later if the server stopped
 * answering altogether. With DATABASE_REPLICA_URLS, TypeORM's replication is configured: a read
 * goes to a replica only when a repository asks for one (`{ from: 'replica' }`,
 * src/repositories/read-from.ts); every other read, every write and every `dataSource.query` runs
 * on the primary.
 */
export function connectionOptions(config: AppConfig, embedded: EmbeddedPostgres | null): DataSourceOptions {
  const { database } = config;
  const primary = embedded ? { ...embedded.connection, username: 'postgres', database: 'postgres' } : { url: database.url };
  const replicas = embedded ? [] : database.replicaUrls;
  return {
    type: 'postgres',
    ...(replicas.length ? { replication: { master: primary, slaves: replicas.map((url) => ({ url })) } } : primary),
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsRun: database.migrationsRun,
    synchronize: false,
    poolSize: embedded ? EMBEDDED_POOL_SIZE : DB_POOL_SIZE,
    connectTimeoutMS: database.connectTimeoutMs,
    applicationName: 'pii-encryption-api',
    // PGlite ignores statement_timeout and serves one query at a time: no timeouts there.
    extra: embedded
      ? {}
      : { statement_timeout: database.statementTimeoutMs, query_timeout: database.statementTimeoutMs + 1000, keepAlive: true },
    // A connection lost while idle in the pool; the next query opens a new one.
    poolErrorHandler: (error: Error & { code?: string }) =>
      poolLogger.warn(`PostgreSQL connection lost: ${error.name}${error.code ? ` (${error.code})` : ''}`),
  };
}

/**
 * Options for running migrations: the primary only, without the statement timeouts, because a
 * migration may legitimately run long or wait for another replica's migration lock.
 */
export function migrationOptions(options: DataSourceOptions): DataSourceOptions {
  const { replication, extra, ...rest } = options as PostgresDataSourceOptions;
  const { statement_timeout: _statementTimeout, query_timeout: _queryTimeout, ...keptExtra } = (extra ?? {}) as Record<string, unknown>;
  return { ...rest, ...(replication?.master ?? {}), extra: keptExtra, migrationsRun: false, poolSize: 2 } as DataSourceOptions;
}

/** Runs pending migrations under an advisory lock (MIGRATIONS_RUN) on their own connections, then opens the pool. */
async function initializeDataSource(options?: DataSourceOptions): Promise<DataSource> {
  const { migrationsRun, ...rest } = options!;
  if (migrationsRun) {
    const migrator = await new DataSource(migrationOptions(options!)).initialize();
    try {
      await runMigrationsExclusively(migrator);
    } finally {
      await migrator.destroy();
    }
  }
  return new DataSource({ ...rest, migrationsRun: false } as DataSourceOptions).initialize();
}

@Module({
  imports: [
    EmbeddedDatabaseModule,
    TypeOrmModule.forRootAsync({
      inject: [AppConfig, EMBEDDED_DATABASE],
      useFactory: (config: AppConfig, embedded: EmbeddedPostgres | null) => ({
        ...connectionOptions(config, embedded),
        autoLoadEntities: true,
        retryAttempts: 0,
      }),
      dataSourceFactory: initializeDataSource,
    }),
  ],
})
export class DatabaseModule {}
