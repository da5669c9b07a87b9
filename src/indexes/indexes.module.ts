import { Module } from '@nestjs/common';
import { DualControlModule } from '../dual-control/dual-control.module';
import { KeysModule } from '../keys/keys.module';
import { IndexesController } from './indexes.controller';
import { IndexesService } from './indexes.service';

/** Blind indexes for equality lookup on encrypted fields; /encrypt uses IndexesService for its `index` option. */
@Module({
  imports: [KeysModule, DualControlModule],
  controllers: [IndexesController],
  providers: [IndexesService],
  exports: [IndexesService],
})
export class IndexesModule {}
