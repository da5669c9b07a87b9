import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminInitiateAuthCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateGroupCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ChildProcess } from 'node:child_process';
import { PERMISSIONS } from '../../src/common/permissions';
import { freePort, spawnLogged, stopProcess, waitFor } from './processes';

export const MOTO_REGION = 'us-east-1';

// moto accepts any credentials; the SDK only needs some to sign with.
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';

/**
 * A private moto_server (KMS and Cognito emulator) on a free loopback port. It is a required
 * part of the test machine: when it cannot start, the suite fails, it never skips.
 */
export class Moto {
  private constructor(
    readonly child: ChildProcess,
    readonly endpoint: string,
    readonly output: () => string,
  ) {}

  static async start(): Promise<Moto> {
    const port = await freePort();
    const { child, output } = spawnLogged('moto_server', ['-H', '127.0.0.1', '-p', String(port)]);
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (error) => reject(new Error(`moto_server could not be started: ${error.message}`))),
    );
    const endpoint = `http://127.0.0.1:${port}`;
    await Promise.race([spawnError, waitFor('moto_server', () => fetch(`${endpoint}/moto-api/`).then((r) => r.text()))]);
    return new Moto(child, endpoint, output);
  }

  kms(): KMSClient {
    return new KMSClient({ region: MOTO_REGION, endpoint: this.endpoint });
  }

  async createKmsKey(): Promise<string> {
    const kms = this.kms();
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'pii-encryption-api tests' }));
    kms.destroy();
    return KeyMetadata!.Arn!;
  }

  /** A user pool whose groups are the permission names, and an app client allowed admin auth. */
  async createCognitoPool(): Promise<CognitoPool> {
    const cognito = new CognitoIdentityProviderClient({ region: MOTO_REGION, endpoint: this.endpoint });
    const { UserPool } = await cognito.send(new CreateUserPoolCommand({ PoolName: `pii-api-${Date.now()}` }));
    const poolId = UserPool!.Id!;
    const { UserPoolClient } = await cognito.send(
      new CreateUserPoolClientCommand({ UserPoolId: poolId, ClientName: 'backend', ExplicitAuthFlows: ['ALLOW_ADMIN_USER_PASSWORD_AUTH'] }),
    );
    for (const permission of PERMISSIONS) {
      await cognito.send(new CreateGroupCommand({ UserPoolId: poolId, GroupName: permission }));
    }
    return new CognitoPool(cognito, this.endpoint, poolId, UserPoolClient!.ClientId!);
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
  }
}

export class CognitoPool {
  private users = 0;

  constructor(
    private readonly cognito: CognitoIdentityProviderClient,
    private readonly endpoint: string,
    readonly poolId: string,
    readonly clientId: string,
  ) {}

  get issuer(): string {
    return `https://cognito-idp.${MOTO_REGION}.amazonaws.com/${this.poolId}`;
  }

  get jwksUri(): string {
    return `${this.endpoint}/${this.poolId}/.well-known/jwks.json`;
  }

  /** An access token for a new user in the given permission groups. */
  async accessToken(groups: readonly string[]): Promise<string> {
    return (await this.signInNewUser('svc', groups)).AccessToken!;
  }

  /** The id token of a new user: a token of the right issuer that must still be refused. */
  async idToken(): Promise<string> {
    return (await this.signInNewUser('person', [])).IdToken!;
  }

  private async signInNewUser(prefix: string, groups: readonly string[]) {
    const username = `${prefix}-${++this.users}`;
    const password = 'Test-Passw0rd!';
    await this.cognito.send(new AdminCreateUserCommand({ UserPoolId: this.poolId, Username: username }));
    await this.cognito.send(
      new AdminSetUserPasswordCommand({ UserPoolId: this.poolId, Username: username, Password: password, Permanent: true }),
    );
    for (const group of groups) {
      await this.cognito.send(new AdminAddUserToGroupCommand({ UserPoolId: this.poolId, Username: username, GroupName: group }));
    }
    const { AuthenticationResult } = await this.cognito.send(
      new AdminInitiateAuthCommand({
        UserPoolId: this.poolId,
        ClientId: this.clientId,
        AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    );
    return AuthenticationResult!;
  }
}
