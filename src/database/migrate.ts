import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Any fixed 64-bit number, the same in every replica: the advisory lock migrations run under. */
const MIGRATION_LOCK_ID = '7243385904112739301';

/**
 * Runs pending migrations while holding a session advisory lock, so replicas starting at once
 * run them one after another: the first migrates, the others find nothing left to do.
 */
export async function runMigrationsExclusively(dataSource: DataSource, logger = new Logger('Migrations')): Promise<void> {
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    await lockRunner.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_ID]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    if (applied.length) logger.log(`Applied migrations: ${applied.map((m) => m.name).join(', ')}`);
  } finally {
    await lockRunner.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await lockRunner.release();
  }
}
