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
import { CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, KMSClient, ReplicateKeyCommand } from '@aws-sdk/client-kms';
import { ChildProcess } from 'node:child_process';
import { PERMISSIONS } from '../../src/common/permissions';
import { requireOnPath } from './missing-tool';
import { freePort, spawnLogged, stopProcess, waitFor } from './processes';

export const MOTO_REGION = 'us-east-1';
/** The failover region of the multi-region tests. */
export const MOTO_SECOND_REGION = 'ca-central-1';

/**
 * moto_server with one correction, for multi-region keys: moto 5.2.1 writes the id of the key
 * into its ciphertext header in a fixed 36 bytes (moto/kms/utils.py, KEY_ID_LEN), and a
 * multi-region key's id is 40 characters (`mrk-` and a UUID), so the id is cut and nothing sealed
 * under a multi-region key decrypts, in any region (AccessDeniedException "does not exist in this
 * region"). The header here holds 40 bytes; everything else (regions, ReplicateKey, the replica in
 * the other region's key store, Decrypt's KeyId check) is moto's own.
 */
const MOTO_WITH_MULTI_REGION_CIPHERTEXTS = `
import struct, sys
import moto.kms.utils as u
KEY_ID_LEN = 40
FORMAT = f">{KEY_ID_LEN}s{u.IV_LEN}s{u.TAG_LEN}s"
HEADER_LEN = KEY_ID_LEN + u.IV_LEN + u.TAG_LEN
def serialize(ciphertext):
    c = ciphertext
    return struct.pack(FORMAT, c.key_id.encode("utf-8"), c.iv, c.tag) + c.ciphertext
def deserialize(ciphertext_blob):
    blob = ciphertext_blob
    if len(blob) < HEADER_LEN:
        raise ValueError("short ciphertext")
    key_id, iv, tag = struct.unpack(FORMAT, blob[:HEADER_LEN])
    return u.Ciphertext(key_id=key_id.rstrip(b"\\0").decode("utf-8"), iv=iv, ciphertext=blob[HEADER_LEN:], tag=tag)
u._serialize_ciphertext_blob = serialize
u._deserialize_ciphertext_blob = deserialize
from moto.server import main
main(sys.argv[1:])
`;

/** The raw key id of a key ARN (moto looks some operations' KeyId up as given, and an ARN is not found). */
export const keyIdOf = (arn: string) => arn.split(':key/')[1] ?? arn;

// moto accepts any credentials; the SDK only needs some to sign with.
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';

/**
 * A private moto_server (KMS and Cognito emulator) on a free loopback port. Not on PATH, it
 * throws MissingTool: `npm test` skips the tests that need it and names it in its closing summary
 * (a failure with CI=true); when it is there but cannot start, the suite fails.
 */
export class Moto {
  private constructor(
    readonly child: ChildProcess,
    readonly endpoint: string,
    readonly output: () => string,
  ) {}

  /** `multiRegionCiphertexts`: moto with the correction above, so multi-region keys decrypt. */
  static async start(options: { multiRegionCiphertexts?: boolean } = {}): Promise<Moto> {
    requireOnPath('moto_server');
    const port = await freePort();
    const args = ['-H', '127.0.0.1', '-p', String(port)];
    const { child, output } = options.multiRegionCiphertexts
      ? spawnLogged('python3', ['-c', MOTO_WITH_MULTI_REGION_CIPHERTEXTS, ...args])
      : spawnLogged('moto_server', args);
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (error) => reject(new Error(`moto_server could not be started: ${error.message}`))),
    );
    const endpoint = `http://127.0.0.1:${port}`;
    await Promise.race([spawnError, waitFor('moto_server', () => fetch(`${endpoint}/moto-api/`).then((r) => r.text()))]);
    return new Moto(child, endpoint, output);
  }

  kms(region = MOTO_REGION): KMSClient {
    return new KMSClient({ region, endpoint: this.endpoint });
  }

  /** A multi-region primary key in MOTO_REGION: its ARN (key id `mrk-…`). */
  async createMultiRegionKey(): Promise<string> {
    const kms = this.kms();
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'pii-encryption-api tests', MultiRegion: true }));
    kms.destroy();
    return KeyMetadata!.Arn!;
  }

  /** Replicates a multi-region primary key into `region`: the replica's ARN and its metadata there. */
  async replicateKey(primaryArn: string, region: string) {
    const kms = this.kms();
    const { ReplicaKeyMetadata } = await kms.send(new ReplicateKeyCommand({ KeyId: keyIdOf(primaryArn), ReplicaRegion: region }));
    kms.destroy();
    const there = this.kms(region);
    const { KeyMetadata } = await there.send(new DescribeKeyCommand({ KeyId: ReplicaKeyMetadata!.Arn! }));
    there.destroy();
    return KeyMetadata!;
  }

  /** DisableKey (by its raw id) and the state DescribeKey reports afterwards. */
  async disableKey(arn: string): Promise<string | undefined> {
    const kms = this.kms();
    await kms.send(new DisableKeyCommand({ KeyId: keyIdOf(arn) }));
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: arn }));
    kms.destroy();
    return KeyMetadata?.KeyState;
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
