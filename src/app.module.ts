import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { ConfigModule } from './config/config.module';
import { CryptoModule } from './crypto/crypto.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { KeysModule } from './keys/keys.module';

@Module({})
export class AppModule {
  /** `environment` replaces process.env (tests run several apps with their own settings). */
  static forRoot(environment?: Record<string, string | undefined>): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(environment), DatabaseModule, AuthModule, KeysModule, CryptoModule, HealthModule],
    };
  }
}
