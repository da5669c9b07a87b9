import assert from 'node:assert/strict';
import request from 'supertest';
import { ApiContract, checkedAgent } from './openapi-contract';
import { Stack } from './stacks';

/** A plaintext and its ciphertext under one key version. */
export interface Written {
  ciphertext: string;
  plaintext: string;
}

/**
 * Creates `userId`'s key and rotates it to `versions` versions, encrypting one item under each:
 * the items, oldest version first (what the migration and failover tests decrypt again later).
 */
export async function writeVersions(stack: Stack, token: string, userId: string, versions: number): Promise<Written[]> {
  await stack.as(token).post('/api/v1/keys').send({ userId }).expect(201);
  const items: Written[] = [];
  for (let version = 1; version <= versions; version++) {
    // A rotation makes a new version only when its data holds a ciphertext of the person: the last one written.
    if (version > 1)
      await stack
        .as(token)
        .post('/api/v1/rotate')
        .send({ userId, data: [items[version - 2].ciphertext] })
        .expect(200);
    const plaintext = `user ${userId} version ${version}`;
    const { body } = await stack
      .as(token)
      .post('/api/v1/encrypt')
      .send({ userId, data: [plaintext] })
      .expect(200);
    items.push({ ciphertext: body.encryptedData[0], plaintext });
  }
  return items;
}

/**
 * Decrypts every version of every user through `url` (each answer checked against `contract`);
 * fails on the first that does not come back.
 */
export async function decryptEverything(
  contract: ApiContract,
  url: string,
  token: string,
  written: ReadonlyMap<string, Written[]>,
): Promise<void> {
  for (const [userId, items] of written) {
    const { body, status } = await checkedAgent(request.agent(url).auth(token, { type: 'bearer' }), contract)
      .post('/api/v1/decrypt')
      .send({ userId, data: items.map((item) => item.ciphertext) });
    assert.equal(status, 200, `decrypt of user ${userId} through ${url}: ${JSON.stringify(body)}`);
    assert.deepEqual(
      body.decryptedData,
      items.map((item) => item.plaintext),
    );
  }
}
