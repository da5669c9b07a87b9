import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadAppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { DatabaseModule } from '../database/database.module';
import { ReceiptSigner } from '../keys/receipt-signer.service';
import { ReceiptSigningModule } from '../keys/receipt-signing.module';
import { MetricsModule } from '../metrics/metrics.module';
import { RepositoriesModule } from '../repositories/repositories.module';

/** Only what signing keys need: configuration, the database, the key provider. */
@Module({
  imports: [ConfigModule.forRoot(), MetricsModule, DatabaseModule, RepositoriesModule, ReceiptSigningModule],
})
class ReceiptKeyCliModule {}

/**
 * `npm run receipt-key:rotate`: makes a new receipt-signing key pair current (its private half
 * sealed by the key provider) and keeps every older public key published at
 * /.well-known/receipt-keys.json, so receipts signed before still verify. Every replica signs
 * with the new key from its next receipt on. Takes the service's environment (DATABASE_URL,
 * KEY_PROVIDER, KMS_KEY_ID…); the embedded database is reachable only by the running service.
 */
async function main(): Promise<void> {
  const [command] = process.argv.slice(2);
  if (command !== 'rotate') throw new Error('usage: receipt-key rotate');
  if (!loadAppConfig(process.env).database.url) {
    throw new Error('DATABASE_URL is required: the embedded database is reachable only by the running service');
  }
  const app = await NestFactory.createApplicationContext(ReceiptKeyCliModule, { logger: ['error', 'warn'] });
  try {
    const signer = app.get(ReceiptSigner);
    await signer.onApplicationBootstrap();
    const kid = await signer.rotate();
    process.stdout.write(`${kid}\n`);
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  new Logger('ReceiptKey').fatal(`Receipt-key rotation failed: ${(error as Error)?.message ?? error}`);
  process.exit(1);
});
