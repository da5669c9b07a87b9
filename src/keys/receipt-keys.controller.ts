import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/decorators/api-errors.decorator';
import { Public } from '../common/decorators/public.decorator';
import { RECEIPT_KEYS_MAX_AGE_SECONDS } from '../common/limits';
import { ReceiptJwk, ReceiptSigner } from './receipt-signer.service';

export class ReceiptKeySet {
  @ApiProperty({
    description: 'Every receipt-signing public key, current first; retired keys stay so older receipts still verify',
    type: 'array',
    items: {
      type: 'object',
      properties: {
        kty: { type: 'string', enum: ['OKP'] },
        crv: { type: 'string', enum: ['Ed25519'] },
        x: { type: 'string', description: 'The public key, base64url' },
        kid: { type: 'string', description: 'RFC 7638 SHA-256 thumbprint of the key; the receipt header names it' },
        alg: { type: 'string', enum: ['EdDSA'] },
        use: { type: 'string', enum: ['sig'] },
      },
      required: ['kty', 'crv', 'x', 'kid', 'alg', 'use'],
    },
  })
  keys: ReceiptJwk[];
}

/** The public keys that verify crypto-shred receipts: no token needed, cacheable. */
@ApiTags('keys')
@Controller('.well-known')
export class ReceiptKeysController {
  constructor(private readonly receipts: ReceiptSigner) {}

  @Public()
  @Get('receipt-keys.json')
  @Header('Cache-Control', `public, max-age=${RECEIPT_KEYS_MAX_AGE_SECONDS}`)
  @ApiOperation({ operationId: 'getReceiptKeys', summary: 'JWKS of the keys that sign crypto-shred receipts (no token needed)' })
  @ApiOkResponse({ type: ReceiptKeySet })
  // Public, but not exempt like the probes and /metrics: rate limited by client IP, shed under load, read from the database.
  @ApiErrors({
    RATE001: 'over RATE_LIMIT_PER_MINUTE for this client IP; Retry-After says when to try again',
    SYS002: 'the database is unavailable, or the service is refusing requests for load (Retry-After)',
  })
  receiptKeys(): Promise<{ keys: ReceiptJwk[] }> {
    return this.receipts.jwks();
  }
}
