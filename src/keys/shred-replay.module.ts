import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { HealthModule } from '../health/health.module';
import { ShredLogModule } from '../shred-log/shred-log.module';
import { KeysModule } from './keys.module';
import { ShredReplayAtStartup } from './shred-replay.startup';
import { ShredReplayService } from './shred-replay.service';
import { ScheduledDestructionJob } from './scheduled-destruction.job';

/**
 * The shred-log replay (docs/operations.md, 3.3): at every start, before the service serves; and
 * the scheduled destruction of keys whose deletion window has ended, which waits for it.
 */
@Module({
  imports: [KeysModule, AuditModule, ShredLogModule, HealthModule],
  providers: [ShredReplayService, ShredReplayAtStartup, ScheduledDestructionJob],
  exports: [ScheduledDestructionJob],
})
export class ShredReplayModule {}
