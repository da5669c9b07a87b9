import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuthModule } from '../auth/auth.module';
import { KeyProviderModule } from '../key-provider/key-provider.module';
import { GracefulShutdown } from './graceful-shutdown.service';
import { HealthController } from './health.controller';
import { StartupGate } from './startup-gate.service';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), KeyProviderModule, AuthModule],
  controllers: [HealthController],
  providers: [GracefulShutdown, StartupGate],
  exports: [GracefulShutdown, StartupGate],
})
export class HealthModule {}
