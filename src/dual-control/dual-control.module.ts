import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { DualControlController } from './dual-control.controller';
import { DualControlService } from './dual-control.service';

/**
 * The two-person rule on destructive admin actions (README "Two-person rule"): the routes that
 * read and approve requests, and DualControlService, which the destructive routes (blind-index
 * finish-rotation, KMS key migration start, lifting the mass-destruction breaker) run through.
 * It knows none of them: each gated route names its action.
 */
@Module({
  imports: [AuditModule],
  controllers: [DualControlController],
  providers: [DualControlService],
  exports: [DualControlService],
})
export class DualControlModule {}
