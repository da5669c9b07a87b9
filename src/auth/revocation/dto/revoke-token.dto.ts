import { ApiProperty } from '@nestjs/swagger';
import { PatternField } from '../../../common/decorators/fields.decorator';

/** Token ids as Cognito and the local issuer make them (UUIDs), with room for other issuers. */
export const TOKEN_ID_PATTERN = /^[\w.:-]{1,200}$/;
/** A JWT in compact form: three base64url parts. */
export const JWT_PATTERN = /^[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
/** Far above any access token this service accepts; a bound on what is verified. */
const MAX_TOKEN_LENGTH = 16_384;

const TokenIdField = (required: boolean) =>
  PatternField(TOKEN_ID_PATTERN, {
    required,
    maxLength: 200,
    message: 'must be 1 to 200 letters, digits or ._:-',
    description: 'The `jti` of the token to revoke; listed for 24 h (the longest access-token lifetime)',
    example: '6e32a5eb-c30f-42ed-9513-9bfef58e885f',
  });

const AccessTokenField = (required: boolean) =>
  PatternField(JWT_PATTERN, {
    required,
    maxLength: MAX_TOKEN_LENGTH,
    message: 'must be a JWT (three base64url parts) of at most 16384 characters',
    description: 'The whole access token: its signature is checked, then its `jti` is listed until its `exp`',
    example: 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImxvY2FsLTEifQ.eyJqdGkiOiI2ZTMyYTVlYiJ9.c2lnbmF0dXJl',
  });

/**
 * The body as validated: exactly one of `jti` and `token` (the route checks that); null is
 * refused for either. The document states the two shapes below as a oneOf.
 */
export class RevokeTokenRequest {
  @TokenIdField(false)
  jti?: string;

  @AccessTokenField(false)
  token?: string;
}

/** Revoke by token id. */
export class RevokeTokenById {
  @TokenIdField(true)
  jti: string;
}

/** Revoke by the token itself. */
export class RevokeTokenByToken {
  @AccessTokenField(true)
  token: string;
}

export class RevokeTokenResponse {
  @ApiProperty({ enum: [true], example: true })
  revoked: true;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    description: 'Until when the token is refused (then it has expired anyway)',
    example: '2026-11-25T11:00:00.000Z',
  })
  until: string;
}
