import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { AuditStore, DatabaseAuditStore } from '../audit/audit-store.service';
import { AuditWriter } from '../audit/audit-writer.service';
import { loadAppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { DatabaseModule } from '../database/database.module';
import { KeysModule } from '../keys/keys.module';
import { ShredReplayService } from '../keys/shred-replay.service';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { RepositoriesModule } from '../repositories/repositories.module';
import { ShredLogModule } from '../shred-log/shred-log.module';

/** What the replay needs: configuration, the database, the keys (to forget cached public keys), the log and the audit writer. */
@Module({
  // ScheduleModule: the keys module brings the audit and dual-control modules, whose jobs need the scheduler (it fires nothing in this short-lived command).
  imports: [
    ConfigModule.forRoot(),
    ScheduleModule.forRoot(),
    MetricsModule,
    RedisModule,
    DatabaseModule,
    RepositoriesModule,
    KeysModule,
    ShredLogModule,
  ],
  providers: [{ provide: AuditStore, useClass: DatabaseAuditStore }, AuditWriter, ShredReplayService],
})
class ReplayShredsCliModule {}

/**
 * `npm run replay-shreds`: replays the shred log against the key database now, as every
 * replica does when it starts (docs/operations.md, 3.3): every user the log says was
 * crypto-shredded but whose key the database holds again is destroyed again, recorded as
 * `key.shred-replayed`; an intent no outcome was recorded for is settled from the database
 * (committed: `destroyed`; the key still there: `aborted`). Prints the counts. Takes the service's environment (DATABASE_URL,
 * SHRED_LOG_BUCKET…); the embedded database is reachable only by the running service, which
 * replays at every start.
 */
async function main(): Promise<void> {
  if (!loadAppConfig(process.env).database.url) {
    throw new Error(
      'DATABASE_URL is required: the embedded database is reachable only by the running service, which replays when it starts',
    );
  }
  const app = await NestFactory.createApplicationContext(ReplayShredsCliModule, { logger: ['error', 'warn'] });
  try {
    const result = await app.get(ShredReplayService).replay();
    process.stdout.write(
      `${result.replayed} shredded user(s) destroyed again; ${result.examined} shreds examined; ` +
        `${result.completed} open intent(s) completed as destroyed, ${result.aborted} aborted (${result.log})\n` +
        `${result.skipped} shred(s) skipped; ${result.auditRecovered} key.shred-replayed audit event(s) stored late, ` +
        `${result.auditPending} still pending\n`,
    );
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  new Logger('ReplayShreds').fatal(`Shred log replay failed: ${(error as Error)?.message ?? error}`);
  process.exit(1);
});
