import { LocalIssuer } from '../auth/signing-keys';
import { loadAppConfig } from '../config/app-config';

/**
 * `npm run token`: prints an access token from the local issuer, with every permission, valid
 * for an hour (TOKEN_TTL_SECONDS to change it). The token is alone on the last line of stdout.
 */
async function main(): Promise<void> {
  const config = loadAppConfig(process.env);
  if (config.auth.mode !== 'local') {
    throw new Error('npm run token works only with AUTH_MODE=local; in production, get tokens from Cognito');
  }
  const issuer = await LocalIssuer.open(config.dataDir);
  const ttl = Number(process.env.TOKEN_TTL_SECONDS ?? 3600);
  process.stderr.write(`Local access token (all permissions, ${ttl} s). Use it as: Authorization: Bearer <token>\n`);
  process.stdout.write(`${issuer.mint(ttl)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
