import { Module } from '@nestjs/common';
import { KeysModule } from '../keys/keys.module';
import { IndexesController } from './indexes.controller';
import { IndexesService } from './indexes.service';

/** Blind indexes for equality lookup on encrypted fields; /encrypt uses IndexesService for its `index` option. */
@Module({
  imports: [KeysModule],
  controllers: [IndexesController],
  providers: [IndexesService],
  exports: [IndexesService],
})
export class IndexesModule {}
