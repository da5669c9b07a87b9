import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { loadAppConfig } from '../config/app-config';
import { connectionOptions, migrationOptions } from '../database/database.module';
import { runMigrationsExclusively } from '../database/migrate';

/**
 * `node dist/cli/migrate.js`: applies pending migrations to DATABASE_URL and exits. The Helm
 * chart runs it as a pre-install/pre-upgrade Job, so the replicas start with MIGRATIONS_RUN=false.
 * It takes the same environment as the service, so it refuses the same bad configuration.
 */
async function main(): Promise<void> {
  const logger = new Logger('Migrations');
  const config = loadAppConfig(process.env);
  if (!config.database.url) {
    throw new Error('DATABASE_URL is required: the embedded database migrates itself when the service starts');
  }
  const dataSource = await new DataSource(migrationOptions(connectionOptions(config, null))).initialize();
  try {
    await runMigrationsExclusively(dataSource, logger);
    const pending = await dataSource.showMigrations();
    if (pending) throw new Error('migrations are still pending after the run');
    logger.log('Database schema is up to date');
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  new Logger('Migrations').fatal(`Migration failed: ${(error as Error)?.message ?? error}`);
  process.exit(1);
});
