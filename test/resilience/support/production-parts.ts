import { KmsFaultProxy } from '../../support/kms-fault-proxy';
import { CognitoPool, Moto, MOTO_REGION } from '../../support/moto';
import { TestDatabase } from '../../support/postgres';

/**
 * What a service process in the production configuration runs on here: a fresh PostgreSQL
 * database, KMS and Cognito on a private moto_server, and KMS reached through a fault proxy that
 * counts, fails, throttles or holds its calls. `env` is the configuration that points at them.
 */
export interface ProductionParts {
  moto: Moto;
  database: TestDatabase;
  pool: CognitoPool;
  kms: KmsFaultProxy;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startProductionParts(): Promise<ProductionParts> {
  const [moto, database] = await Promise.all([Moto.start(), TestDatabase.create()]);
  const kmsKeyId = await moto.createKmsKey();
  const pool = await moto.createCognitoPool();
  const kms = await new KmsFaultProxy(moto.endpoint).start();
  const env = {
    NODE_ENV: 'production',
    // Loopback, no TLS between the test and the process.
    ALLOW_PLAIN_HTTP: 'true',
    DATABASE_URL: database.url,
    KMS_KEY_ID: kmsKeyId,
    KMS_ENDPOINT: kms.endpoint,
    AWS_REGION: MOTO_REGION,
    COGNITO_USER_POOL_ID: pool.poolId,
    COGNITO_CLIENT_IDS: pool.clientId,
    COGNITO_JWKS_URI: pool.jwksUri,
  };
  return {
    moto,
    database,
    pool,
    kms,
    env,
    stop: async () => {
      kms.release();
      await Promise.all([kms.stop(), moto.stop(), database.drop()]);
    },
  };
}
