import 'reflect-metadata';
import { ConsoleLogger, DynamicModule, Logger, LogLevel, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { AppConfig, loadAppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { DatabaseModule } from '../database/database.module';
import { DualControlService } from '../dual-control/dual-control.service';
import { KmsMigrationJobModule } from '../keys/kms-migration.module';
import { KmsMigrationService, KmsMigrationStatus } from '../keys/kms-migration.service';
import { KmsMigrationWorker } from '../keys/kms-migration.worker';
import { KMS_MIGRATION_UNSEALABLE_RETRY_MS } from '../common/limits';
import { MetricsModule } from '../metrics/metrics.module';
import { RepositoriesModule } from '../repositories/repositories.module';

const USAGE = 'usage: npm run kms-migration [-- --status | --approval <approval request id>]';
/** How often the command reads the progress back from the database. */
const PROGRESS_INTERVAL_MS = 1_000;

/** Configuration, the database, the key provider and the migration job: not the whole service. */
@Module({})
class KmsMigrationCliModule {
  static create(works: boolean): DynamicModule {
    return {
      module: KmsMigrationCliModule,
      imports: [ConfigModule.forRoot(), MetricsModule, DatabaseModule, RepositoriesModule, KmsMigrationJobModule.forCommand(works)],
    };
  }
}

/** Warnings and errors go to stderr, so that stdout carries the progress and the final JSON alone. */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(messages: unknown[], context?: string, logLevel?: LogLevel): void {
    super.printMessages(messages, context, logLevel, 'stderr');
  }
}

const line = (status: KmsMigrationStatus): string => {
  const { migration, remaining } = status;
  const id = migration ? `KMS key migration ${migration.id}` : 'No KMS key migration yet';
  return (
    `${id} to ${status.currentKeyId}: ${migration?.resealed ?? 0} re-sealed, ${remaining.total} left under old keys ` +
    `(users' keys ${remaining.userKeys}, retired versions ${remaining.userKeyHistory}, ` +
    `blind-index keys ${remaining.blindIndexKeys}, receipt-signing keys ${remaining.receiptSigningKeys})`
  );
};

/** Who ran the command, for the audit trail: the operating-system account, as no token is involved. */
function operator() {
  let username: string | null = null;
  try {
    username = userInfo().username;
  } catch {
    // a uid without an account (some containers)
  }
  return { sub: 'operator-cli', clientId: null, username };
}

/**
 * Starts the migration, under the two-person rule (DUAL_CONTROL=on): only with `--approval`, the
 * id of a request a second identity approved (made by POST /api/v1/admin/kms-migration, which
 * answered 202; used once), or resumes the one already running to this key, which was started
 * so. Without either it starts nothing: null, with what to do on stderr.
 */
async function startOrResume(
  dualControl: DualControlService,
  migrations: KmsMigrationService,
  dualControlOn: boolean,
  approvalId: string | undefined,
): Promise<(KmsMigrationStatus & { started: boolean }) | null> {
  const target = await migrations.targetKeyId();
  if (approvalId === undefined && dualControlOn) {
    const { migration } = await migrations.status();
    if (migration && !migration.finishedAt && migration.targetKeyId === target) return migrations.startAs(operator());
    process.stderr.write(
      `Two-person rule (DUAL_CONTROL=on): nothing started. Ask with POST /api/v1/admin/kms-migration (answered 202 with an approval request id), ` +
        `have a second person approve it (POST /api/v1/approvals/{id}/approve), then run: npm run kms-migration -- --approval <id>\n`,
    );
    return null;
  }
  const gated = await dualControl.guard(
    { action: 'kms-migration.start', target },
    { actor: operator(), approvalId: approvalId?.trim() },
    () => migrations.startAs(operator()),
  );
  return 'done' in gated ? gated.done : null;
}

/**
 * `npm run kms-migration`: starts the online KMS key migration to the current key (KMS_KEY_ID,
 * or LOCAL_MASTER_KEY_FILE), or resumes the one already running, takes part in it (as a replica
 * does: the rows it claims are skipped by the others, at KMS_MIGRATION_RATE_PER_SECOND) and prints
 * its progress until it is done; then the status as JSON on the last line of stdout. Exit 0 when
 * nothing is left under an old key, 1 when it ended otherwise (only keys that do not unseal here are
 * left, which the replicas keep retrying; superseded by a migration to another key). `--status` prints the status as JSON and changes
 * nothing. Under the two-person rule (DUAL_CONTROL=on, the default) it starts a migration only
 * with `--approval <id>` of an approved request (startOrResume). Takes the service's environment
 * (DATABASE_URL, KEY_PROVIDER, KMS_KEY_ID, KMS_PREVIOUS_KEY_IDS…); the embedded database is
 * reached through its socket while the service runs (docs/operations.md §2.5).
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { status: { type: 'boolean', default: false }, approval: { type: 'string' } },
    allowPositionals: false,
  });
  if (!loadAppConfig(process.env).database.url) {
    throw new Error(
      'DATABASE_URL is required. For the embedded database, run the service and point DATABASE_URL at its socket: ' +
        'postgresql://postgres@localhost/postgres?host=<DATA_DIR>',
    );
  }
  const app = await NestFactory.createApplicationContext(KmsMigrationCliModule.create(!values.status), {
    logger: new StderrLogger({ logLevels: ['error', 'warn', 'fatal'] }),
  });
  const migrations = app.get(KmsMigrationService);
  const worker = app.get(KmsMigrationWorker);
  const out = (text: string) => process.stdout.write(`${text}\n`);
  let stopped = false;
  const stop = () => (stopped = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (values.status) {
      out(JSON.stringify(await migrations.status()));
      return 0;
    }
    const first = await startOrResume(app.get(DualControlService), migrations, app.get(AppConfig).dualControl, values.approval);
    if (!first) return 2;
    const { started } = first;
    const ours = first.migration!.id;
    out(`${started ? 'Started' : 'Resuming'} ${line(first)}`);
    let last = '';
    for (;;) {
      const status = await migrations.status();
      const progress = line(status);
      if (progress !== last) out((last = progress));
      const migration = status.migration;
      if (migration?.id !== ours) {
        out(JSON.stringify(status));
        process.stderr.write(`KMS key migration ${ours} was superseded by migration ${migration?.id} to another key\n`);
        return 1;
      }
      if (migration.finishedAt) {
        out(JSON.stringify(status));
        return 0;
      }
      if (status.remaining.total > 0 && status.remaining.total <= worker.unsealableCount()) {
        out(JSON.stringify(status));
        process.stderr.write(
          `KMS key migration ${ours}: ${status.remaining.total} sealed key(s) left do not unseal here (see the warnings above); they stay under their old key and the replicas keep retrying them every ${KMS_MIGRATION_UNSEALABLE_RETRY_MS / 60_000} minutes — list the missing key in KMS_PREVIOUS_KEY_IDS\n`,
        );
        return 1;
      }
      if (stopped) {
        process.stderr.write(`Stopped; migration ${ours} goes on in the replicas with this key, or run the command again to resume it\n`);
        return 130;
      }
      await new Promise((resolve) => setTimeout(resolve, PROGRESS_INTERVAL_MS));
    }
  } finally {
    await app.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    new Logger('KmsMigration').fatal(`${(error as Error)?.message ?? error}\n${USAGE}`);
    process.exit(1);
  },
);
