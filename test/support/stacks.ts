import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { Permission, PERMISSIONS } from '../../src/common/permissions';
import { LocalIssuer } from '../../src/auth/signing-keys';
import { CognitoPool, Moto, MOTO_REGION } from './moto';
import { ApiContract, checkedAgent } from './openapi-contract';
import { TestDatabase } from './postgres';

export type Environment = Record<string, string>;

/** A running application on one set of real parts, with what tests need to drive it. */
export interface Stack {
  readonly name: string;
  readonly app: NestExpressApplication;
  readonly url: string;
  readonly env: Environment;
  /** An access token with these permissions (default: all), issued the way this stack trusts. */
  token(permissions?: readonly Permission[]): Promise<string>;
  /** A token of a distinct caller identity (its own `sub`), e.g. for approvals by several people. */
  identity(name: string, permissions: readonly Permission[]): Promise<string>;
  /** SQL against the keys database the app uses. */
  query<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Requests as anyone; every response is checked against the OpenAPI document (openapi-contract.ts). */
  http(): request.Agent;
  /** Requests made as the caller holding `token`: `stack.as(token).post('/api/v1/encrypt').send(…)`; checked as http() is. */
  as(token: string): request.Agent;
  /** The app's OpenAPI document, as a checker of responses. */
  readonly contract: ApiContract;
  /** Another app on the same database and key provider (e.g. a second replica). */
  startAnother(overrides?: Environment): Promise<NestExpressApplication>;
  /**
   * Closes the app and starts it again on the same data with `overrides` (a restart with another
   * setting); `app`, `url`, `http()`, `as()` and `query()` then use the new one.
   */
  restart(overrides?: Environment): Promise<NestExpressApplication>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** aws stack: KMS_KEY_ID is a multi-region primary key (moto started so that such keys decrypt; see moto.ts). */
  multiRegionKey?: boolean;
}

export interface StackDefinition {
  name: string;
  start(overrides?: Environment, options?: StackOptions): Promise<Stack>;
}

/**
 * The apps' log lines go to a file per app under TEST_LOG_DIR (set by `npm test`), so the test
 * output shows results only; the runner points to the files when a suite fails.
 */
let appCount = 0;
function quiet(): Environment {
  const logDir = process.env.TEST_LOG_DIR;
  const suite = basename(process.argv[1] ?? 'suite').replace(/\.js$/, '');
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    ...(logDir && { LOG_FILE: join(logDir, `${suite}-${process.pid}-${++appCount}.log`) }),
  };
}

/**
 * No deletion window (SHRED_PENDING_DAYS=0, refused in production while DUAL_CONTROL=on): the
 * suites written before it expect a DELETE to destroy at once, as it then does. The window's own
 * suites (scheduled-destruction) and the authorization matrix set it.
 */
const NO_DELETION_WINDOW: Environment = { SHRED_PENDING_DAYS: '0' };

/** The loopback URL of an app that listens. */
export const urlOf = (app: NestExpressApplication) => `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

async function listen(env: Environment): Promise<{ app: NestExpressApplication; url: string }> {
  const app = await createApp(env);
  await app.listen(0, '127.0.0.1');
  return { app, url: urlOf(app) };
}

function makeStack(
  name: string,
  env: Environment,
  running: { app: NestExpressApplication; url: string },
  token: (permissions: readonly Permission[], identity?: string) => Promise<string>,
  cleanup: () => Promise<void>,
  contract: ApiContract,
): Stack {
  const others: NestExpressApplication[] = [];
  let current = running;
  return {
    name,
    env,
    contract,
    get app() {
      return current.app;
    },
    get url() {
      return current.url;
    },
    token: (permissions = PERMISSIONS) => token(permissions),
    identity: (name, permissions) => token(permissions, name),
    query: (sql, params = []) => current.app.get(DataSource).query(sql, params),
    http: () => checkedAgent(request.agent(current.url), contract),
    as: (token) => checkedAgent(request.agent(current.url).auth(token, { type: 'bearer' }), contract),
    async startAnother(overrides = {}) {
      const another = await listen({ ...env, ...overrides });
      others.push(another.app);
      return another.app;
    },
    async restart(overrides = {}) {
      await current.app.close();
      current = await listen({ ...env, ...overrides });
      return current.app;
    },
    async close() {
      for (const app of others) await app.close();
      await current.app.close();
      await cleanup();
    },
  };
}

/** (a) The embedded defaults: PGlite, the local key provider, the local token issuer. */
export const embeddedStack: StackDefinition = {
  name: 'embedded (PGlite, local key provider, local issuer)',
  async start(overrides = {}) {
    const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-'));
    const env = { ...quiet(), ...NO_DELETION_WINDOW, DATA_DIR: dataDir, ...overrides };
    const running = await listen(env);
    const issuer = await LocalIssuer.open(dataDir);
    return makeStack(
      this.name,
      env,
      running,
      async (permissions, identity) => issuer.mint(600, { scope: permissions.join(' '), ...(identity && { sub: identity }) }),
      async () => rmSync(dataDir, { recursive: true, force: true }),
      await ApiContract.of(running.url),
    );
  },
};

/** The shred log's bucket and prefix on the aws stack's moto_server (SHRED_LOG_BUCKET, SHRED_LOG_PREFIX). */
export const SHRED_LOG_BUCKET = 'pii-shred-log';
export const SHRED_LOG_PREFIX = 'shreds/';

/** An S3 client of a moto_server (the shred log's storage on the aws stack). */
export const motoS3 = (endpoint: string) => new S3Client({ region: MOTO_REGION, endpoint, forcePathStyle: true });

/** (b) PostgreSQL on 127.0.0.1:5432, the kms provider and Cognito tokens, both on moto_server; the shred log in moto's S3. */
export const awsStack: StackDefinition = {
  name: 'PostgreSQL + KMS and Cognito on moto_server',
  async start(overrides = {}, options: StackOptions = {}) {
    const [moto, database] = await Promise.all([Moto.start({ multiRegionCiphertexts: options.multiRegionKey }), TestDatabase.create()]);
    const kmsKeyId = options.multiRegionKey ? await moto.createMultiRegionKey() : await moto.createKmsKey();
    const pool: CognitoPool = await moto.createCognitoPool();
    const s3 = motoS3(moto.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: SHRED_LOG_BUCKET }));
    s3.destroy();
    const dataDir = mkdtempSync(join(tmpdir(), 'pii-api-'));
    const env: Environment = {
      ...quiet(),
      ...NO_DELETION_WINDOW,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      KEY_PROVIDER: 'kms',
      KMS_KEY_ID: kmsKeyId,
      KMS_ENDPOINT: moto.endpoint,
      AWS_REGION: MOTO_REGION,
      AUTH_MODE: 'cognito',
      COGNITO_REGION: MOTO_REGION,
      COGNITO_USER_POOL_ID: pool.poolId,
      COGNITO_CLIENT_IDS: pool.clientId,
      COGNITO_JWKS_URI: pool.jwksUri,
      SHRED_LOG_BUCKET,
      SHRED_LOG_PREFIX,
      SHRED_LOG_ENDPOINT: moto.endpoint,
      ...overrides,
    };
    const running = await listen(env);
    const tokens = new Map<string, Promise<string>>();
    const stack = makeStack(
      this.name,
      env,
      running,
      (permissions, identity) => {
        const key = `${identity ?? ''}|${[...permissions].sort().join(' ')}`;
        if (!tokens.has(key)) tokens.set(key, pool.accessToken(permissions));
        return tokens.get(key)!;
      },
      async () => {
        await Promise.all([moto.stop(), database.drop()]);
        rmSync(dataDir, { recursive: true, force: true });
      },
      await ApiContract.of(running.url),
    );
    return Object.assign(stack, { moto, pool, database });
  },
};

export const STACKS: StackDefinition[] = [embeddedStack, awsStack];
