import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { createPublicKey } from 'node:crypto';
import { Audited } from '../common/decorators/audited.decorator';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { ApiUserIdParam } from '../common/decorators/fields.decorator';
import { RequirePermission, Subject } from '../common/decorators/require-permission.decorator';
import { UserIdPipe } from '../common/user-id.pipe';
import { RSA_OAEP_256 } from '../envelope/ciphertexts';
import { CreateKeyRequest, CreateKeyResponse } from './dto/create-key.dto';
import { KeyDetailsQuery, KeyDetailsResponse, KeyVersionSummary, ShredReceiptResponse } from './dto/key-details.dto';
import { KEY_VERSIONS_PAGE_SIZE } from '../common/limits';
import { CancelDeletionAnswer, KeysService, PendingDeletionAnswer, ShredAnswer } from './keys.service';
import { ShredBreaker } from './shred-breaker.service';
import { describeKeyCreate, describeKeyDelete, describeKeyEraseNow, describeKeyRead, describeKeyRestore } from './keys.audit';
import { CancelDeletionResponse, PendingDeletionResponse } from './dto/pending-deletion.dto';
import { ApiTwoPersonRule, CurrentApprovalCall } from '../dual-control/approval-call.decorator';
import { ApprovalRequestView } from '../dual-control/dto/approval.dto';
import { ApprovalCall, DualControlService } from '../dual-control/dual-control.service';

/** What refuses a crypto-shred, by DELETE or by erase-now alike. */
const SHRED_REFUSALS = {
  ENC001: 'invalid userId',
  KEY001: 'the user has no key',
  KEY002: 'a rotation for this user is in progress',
  SHRED001:
    'the mass-destruction breaker is tripped (more than SHRED_MAX_PER_HOUR crypto-shreds in an hour, all replicas together): nothing was destroyed; it stays tripped until two people lift it',
} as const;
const SHRED_NOT_COMMITTED = 'the shred log or the key database failed before the commit: nothing was destroyed and the key stays usable';

@ApiTags('keys')
@Controller('keys')
export class KeysController {
  constructor(
    private readonly keys: KeysService,
    private readonly breaker: ShredBreaker,
    private readonly dualControl: DualControlService,
  ) {}

  @Post()
  @RequirePermission('keys:write', Subject.named('userId'))
  @Audited('key.create', describeKeyCreate)
  @ApiOperation({ operationId: 'createKey', summary: 'Create the user’s key pair (idempotent)' })
  @ApiCreatedResponse({ description: 'A new key pair was created', type: CreateKeyResponse })
  @ApiOkResponse({ description: 'The user already had an active key (created: false)', type: CreateKeyResponse })
  @ApiErrors({ ENC001: 'invalid userId, or a field other than userId', KEY005: true })
  async create(@Body() request: CreateKeyRequest, @Res({ passthrough: true }) response: Response): Promise<CreateKeyResponse> {
    const { created, keyVersion } = await this.keys.createKey(request.userId);
    response.status(created ? 201 : 200);
    return { success: true, created, keyVersion };
  }

  @Get(':userId')
  @RequirePermission('keys:read', Subject.named('userId'))
  @Audited('key.read', describeKeyRead)
  @ApiOperation({
    operationId: 'getKey',
    summary:
      'Key metadata, versions with their algorithms, and the current public key (PEM for RSA-OAEP-256, base64 for X-Wing); never private material',
  })
  @ApiUserIdParam()
  @ApiOkResponse({ type: KeyDetailsResponse })
  @ApiErrors({
    ENC001: 'invalid userId, versionsLimit or versionsCursor, or an unknown query parameter',
    KEY001: 'the user has no key',
    KEY005: true,
  })
  async describe(@Param('userId', UserIdPipe) userId: string, @Query() query: KeyDetailsQuery): Promise<KeyDetailsResponse> {
    const before = query.versionsCursor === undefined ? undefined : Number(query.versionsCursor);
    const { key, history, more } = await this.keys.describeKey(userId, {
      limit: query.versionsLimit ?? KEY_VERSIONS_PAGE_SIZE.default,
      before,
    });
    const versions: KeyVersionSummary[] = [
      ...(before === undefined
        ? [{ keyVersion: key.keyVersion, algorithm: key.algorithm, status: 'current' as const, createdAt: key.createdAt.toISOString() }]
        : []),
      ...history.map((h) => ({
        keyVersion: h.keyVersion,
        algorithm: h.algorithm,
        status: h.publicKey ? ('retired' as const) : ('destroyed' as const),
        createdAt: h.createdAt.toISOString(),
        rotatedAt: h.rotationDate.toISOString(),
        rotationReason: h.rotationReason,
      })),
    ];
    return {
      userId,
      keyVersion: key.keyVersion,
      algorithm: key.algorithm,
      ...(key.algorithm === RSA_OAEP_256 && { modulusBits: createPublicKey(key.publicKey!).asymmetricKeyDetails?.modulusLength ?? 0 }),
      publicKey: key.publicKey!,
      keyProvider: key.keyProvider,
      createdAt: key.createdAt.toISOString(),
      updatedAt: key.updatedAt.toISOString(),
      versions,
      nextVersionsCursor: more ? String(versions[versions.length - 1].keyVersion) : null,
    };
  }

  @Delete(':userId')
  @RequirePermission('keys:delete', Subject.named('userId'))
  @Audited('key.delete', describeKeyDelete)
  @ApiOperation({
    operationId: 'destroyKey',
    summary:
      'Crypto-shred: the private key of every version is destroyed after the deletion window (SHRED_PENDING_DAYS, default 7 days; every use is refused from now on); then no ciphertext of the user can be decrypted again',
  })
  @ApiUserIdParam()
  @ApiAcceptedResponse({
    type: PendingDeletionResponse,
    description:
      'The keys are pending deletion: refused to every use at once, destroyed at `destroysAt` unless cancelled (POST /keys/{userId}/cancel-deletion). A repeated DELETE answers the same, and the receipt (200) once destroyed',
  })
  @ApiOkResponse({
    type: ShredReceiptResponse,
    description:
      'The keys are destroyed: what was destroyed, with a signed receipt (a DELETE after the window has ended, or any DELETE with SHRED_PENDING_DAYS=0); a repeated DELETE of the same shredding answers the same',
  })
  @ApiErrors({
    ...SHRED_REFUSALS,
    SYS002:
      `${SHRED_NOT_COMMITTED}, after any restart too; retry. ` +
      'For a user already shredded: the shred log, which a receipt is checked against, could not be read; retry',
  })
  async destroy(
    @Param('userId', UserIdPipe) userId: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ShredAnswer | PendingDeletionAnswer> {
    // The mass-destruction breaker stops a DELETE; a scheduled destruction, already decided, does not pass it.
    const answer = await this.keys.requestDeletion(userId, { breaker: this.breaker });
    if ('state' in answer) response.status(202);
    return answer;
  }

  @Post(':userId/cancel-deletion')
  @HttpCode(200)
  @RequirePermission('keys:restore', Subject.named('userId'))
  @Audited('key.restore', describeKeyRestore)
  @ApiOperation({
    operationId: 'cancelKeyDeletion',
    summary: 'Cancel a pending deletion within its window: the keys, and every ciphertext under them, are usable again',
  })
  @ApiUserIdParam()
  @ApiOkResponse({
    type: CancelDeletionResponse,
    description: 'The pending deletion was cancelled (or none was pending: `cancelled: false`)',
  })
  @ApiErrors({
    ENC001: 'invalid userId',
    KEY001: 'the user has no key: never created, or already destroyed (the window had ended)',
    SYS002: 'the shred log could not record the cancellation: nothing changed, the keys stay pending deletion; retry',
  })
  cancelDeletion(@Param('userId', UserIdPipe) userId: string): Promise<CancelDeletionAnswer> {
    return this.keys.cancelDeletion(userId);
  }

  @Post(':userId/erase-now')
  @HttpCode(200)
  @RequirePermission('keys:delete', Subject.named('userId'))
  @Audited('key.delete', describeKeyEraseNow)
  @ApiOperation({
    operationId: 'eraseKeyNow',
    summary:
      'Crypto-shred at once, without waiting for the deletion window (two-person rule: a second identity approves the request this call makes); pending deletion or not',
  })
  @ApiUserIdParam()
  @ApiTwoPersonRule()
  @ApiOkResponse({
    type: ShredReceiptResponse,
    description: 'The keys are destroyed: what was destroyed, with a signed receipt (as a DELETE answers it once destroyed)',
  })
  @ApiErrors({ ...SHRED_REFUSALS, SYS002: `${SHRED_NOT_COMMITTED}; retry` })
  async eraseNow(
    @Param('userId', UserIdPipe) userId: string,
    @CurrentApprovalCall() call: ApprovalCall,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ShredAnswer | ApprovalRequestView> {
    // A new request to destroy: it passes the mass-destruction breaker, as a DELETE does.
    const gated = await this.dualControl.guard({ action: 'keys.erase-now', target: userId }, call, () =>
      this.keys.destroyKeys(userId, { breaker: this.breaker }),
    );
    if ('pending' in gated) {
      response.status(202);
      return gated.pending;
    }
    return gated.done;
  }
}
