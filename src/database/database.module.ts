import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { EMBEDDED_MAX_CONNECTIONS, EmbeddedPostgres } from './embedded-postgres';
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

/** Connection settings for PostgreSQL (DATABASE_URL) or the embedded server: same driver, same SQL. */
export function connectionOptions(config: AppConfig, embedded: EmbeddedPostgres | null): DataSourceOptions {
  const target = embedded
    ? { ...embedded.connection, username: 'postgres', database: 'postgres' }
    : { url: config.database.url };
  return {
    type: 'postgres',
    ...target,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsRun: config.database.migrationsRun,
    synchronize: false,
    poolSize: embedded ? EMBEDDED_MAX_CONNECTIONS - 1 : DB_POOL_SIZE,
    connectTimeoutMS: 5000,
    applicationName: 'pii-encryption-api',
  };
}

/** Opens the pool, then runs pending migrations under an advisory lock (MIGRATIONS_RUN). */
async function initializeDataSource(options?: DataSourceOptions): Promise<DataSource> {
  const { migrationsRun, ...rest } = options!;
  const dataSource = await new DataSource({ ...rest, migrationsRun: false } as DataSourceOptions).initialize();
  if (migrationsRun) await runMigrationsExclusively(dataSource);
  return dataSource;
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
