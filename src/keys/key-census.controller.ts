import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited } from '../common/decorators/audited.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { KeyCensusView } from './dto/key-census.dto';
import { KeyCensus } from './key-census.service';
import { describeKeyCensus } from './keys.audit';

/** How many people's current keys are still RSA: the migration to X-Wing, followed (docs/operations.md 2.6). */
@ApiTags('admin')
@Controller('admin/key-census')
export class KeyCensusController {
  constructor(private readonly census: KeyCensus) {}

  @Get()
  @RequirePermission('keys:admin', Subject.operator())
  @Audited('key-census.read', describeKeyCensus)
  @ApiOperation({
    operationId: 'getKeyCensus',
    summary: 'People’s current keys by algorithm: how many are still RSA-OAEP-256 (counts only, at most a minute old)',
  })
  @ApiOkResponse({ type: KeyCensusView })
  async read(): Promise<KeyCensusView> {
    const { counts, countedAt } = await this.census.currentKeys();
    return { currentKeys: counts, countedAt: countedAt.toISOString() };
  }
}
