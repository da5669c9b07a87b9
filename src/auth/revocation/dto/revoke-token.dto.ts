import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsJWT, IsOptional, Matches, MaxLength } from 'class-validator';

/** Token ids as Cognito and the local issuer make them (UUIDs), with room for other issuers. */
export const TOKEN_ID_PATTERN = /^[\w.:-]{1,200}$/;
/** Far above any access token this service accepts; a bound on what is verified. */
const MAX_TOKEN_LENGTH = 16_384;

export class RevokeTokenRequest {
  @ApiPropertyOptional({ description: 'The `jti` of the token to revoke; listed for 24 h (the longest access-token lifetime)', example: '6e32a5eb-c30f-42ed-9513-9bfef58e885f' })
  @IsOptional()
  @Matches(TOKEN_ID_PATTERN, { message: 'jti must be 1 to 200 letters, digits or ._:-' })
  jti?: string;

  @ApiPropertyOptional({ description: 'The whole access token: its signature is checked, then its `jti` is listed until its `exp`' })
  @IsOptional()
  @MaxLength(MAX_TOKEN_LENGTH)
  @IsJWT({ message: 'token must be a JWT' })
  token?: string;
}

export class RevokeTokenResponse {
  @ApiProperty({ example: true })
  revoked: true;

  @ApiProperty({ description: 'Until when the token is refused (then it has expired anyway)', example: '2026-11-25T11:00:00.000Z' })
  until: string;
}
