import { decode } from 'jsonwebtoken';
import type { DescribeOperation } from '../../common/audit-vocabulary';
import { TOKEN_ID_PATTERN } from './dto/revoke-token.dto';

/**
 * How /tokens/revoke is described in the audit trail. The revoked token's id (jti) names it
 * without being a credential; the token itself is never recorded. A token sent whole has been
 * verified by the time there is a response.
 */
export const describeTokenRevoke: DescribeOperation = ({ body }, response) => {
  const fromToken = response && typeof body?.token === 'string' ? decode(body.token, { json: true })?.jti : undefined;
  const tokenId = [body?.jti, fromToken].find((value) => typeof value === 'string' && TOKEN_ID_PATTERN.test(value));
  return { details: tokenId ? { tokenId } : null };
};
