import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule as NestConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig, loadAppConfig } from './app-config';

/**
 * Provides the validated AppConfig everywhere. The service reads process.env (and a `.env`
 * file if one exists); tests pass their own environment so that several apps can run side by
 * side in one process.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(environment?: Record<string, string | undefined>): DynamicModule {
    return {
      module: ConfigModule,
      imports: [
        NestConfigModule.forRoot({
          ignoreEnvFile: environment !== undefined,
          skipProcessEnv: environment !== undefined,
          envFilePath: '.env',
          load: [() => ({ app: loadAppConfig(environment ?? process.env) })],
        }),
      ],
      providers: [{ provide: AppConfig, inject: [ConfigService], useFactory: (config: ConfigService) => config.getOrThrow('app') }],
      exports: [AppConfig],
    };
  }
}
