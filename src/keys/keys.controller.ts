import { Body, Controller, Delete, Get, Param, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
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
import { KeysService } from './keys.service';
import { ShredBreaker } from './shred-breaker.service';
import { describeKeyCreate, describeKeyDelete, describeKeyRead } from './keys.audit';

@ApiTags('keys')
@Controller('keys')
export class KeysController {
  constructor(
    private readonly keys: KeysService,
    private readonly breaker: ShredBreaker,
  ) {}

  @Post()
  @RequirePermission('keys:write', Subject.named('userId'))
  @Audited('key.create', describeKeyCreate)
  @ApiOperation({ operationId: 'createKey', summary: 'Create the user’s key pair (idempotent)' })
  @ApiCreatedResponse({ description: 'A new key pair was created', type: CreateKeyResponse })
  @ApiOkResponse({ description: 'The user already had an active key (created: false)', type: CreateKeyResponse })
  @ApiErrors({ ENC001: 'invalid userId, or a field other than userId' })
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
  @ApiErrors({ ENC001: 'invalid userId, versionsLimit or versionsCursor, or an unknown query parameter', KEY001: 'the user has no key' })
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
    summary: 'Crypto-shred: destroy the private key of every version; no ciphertext of the user can be decrypted again',
  })
  @ApiUserIdParam()
  @ApiOkResponse({
    type: ShredReceiptResponse,
    description: 'What was destroyed, with a signed receipt; a repeated DELETE of the same shredding answers the same',
  })
  @ApiErrors({
    ENC001: 'invalid userId',
    KEY001: 'the user has no key',
    KEY002: 'a rotation for this user is in progress',
    SHRED001:
      'the mass-destruction breaker is tripped (more than SHRED_MAX_PER_HOUR crypto-shreds in an hour, all replicas together): nothing was destroyed; it stays tripped until two people lift it',
    SYS002:
      'the shred log or the key database failed before the commit: nothing was destroyed and the key stays usable, after any restart too; retry. ' +
      'For a user already shredded: the shred log, which a receipt is checked against, could not be read; retry',
  })
  destroy(@Param('userId', UserIdPipe) userId: string): ReturnType<KeysService['destroyKeys']> {
    // The mass-destruction breaker stops a DELETE; a scheduled destruction, already decided, does not pass it.
    return this.keys.destroyKeys(userId, { breaker: this.breaker });
  }
}
