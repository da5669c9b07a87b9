import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { RECEIPT_TYPE } from '../keys/receipt-signer.service';
import { loadKeySet } from './key-set';

const DEFAULT_JWKS = 'http://localhost:3000/.well-known/receipt-keys.json';
const USAGE = `usage: npm run verify-receipt -- <receipt> [--jwks <url or file>]   (default ${DEFAULT_JWKS})`;

/**
 * `npm run verify-receipt -- <receipt> [--jwks <url|file>]`: checks a crypto-shred receipt's
 * signature against the published receipt-signing keys (any of them, current or retired) and
 * prints its payload. Exit 0 when the signature holds, 1 when it does not (tampered, or signed by
 * a key that is not published), 2 on a usage error.
 */
async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--jwks');
  const jwksSource = at >= 0 ? args[at + 1] : DEFAULT_JWKS;
  const receipt = args.filter((_, index) => at < 0 || (index !== at && index !== at + 1))[0]?.trim();
  if (!receipt || !jwksSource) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const keys = createLocalJWKSet(await loadKeySet(jwksSource));
  try {
    const { payload, protectedHeader } = await compactVerify(receipt, keys, { algorithms: ['EdDSA'] });
    // The same key signs the audit checkpoint digests (typ audit-checkpoint+jws): never a receipt.
    if (protectedHeader.typ !== RECEIPT_TYPE)
      throw new Error(`signed as ${String(protectedHeader.typ)}, not as a receipt (${RECEIPT_TYPE})`);
    process.stdout.write(
      `${JSON.stringify({ valid: true, kid: protectedHeader.kid, payload: JSON.parse(new TextDecoder().decode(payload)) }, null, 2)}\n`,
    );
    return 0;
  } catch (error) {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(receipt).kid;
    } catch {
      kid = undefined;
    }
    process.stdout.write(`${JSON.stringify({ valid: false, kid: kid ?? null, reason: (error as Error).message })}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.message ?? error}\n`);
    process.exit(2);
  },
);
