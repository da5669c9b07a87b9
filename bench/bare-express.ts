import express from 'express';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseCiphertext } from '../src/envelope/ciphertext-format';
import { decryptBatch, encryptBatch } from '../src/envelope/envelope';

/**
 * Reference (c) of the benchmark: the same envelope behind a bare express server — a JSON body
 * parser and the two routes, no token check, rate limit, audit, logging, validation or database.
 * It shows what any express-based service can reach on this machine, so that the service's
 * distance to the ceiling can be split into express's share and the service's own.
 * Run by bench/main.ts as a child process of its own; reports its port over IPC.
 */
const USER_ID = '4242';
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const recipient = { userId: USER_ID, keyVersion: 1, publicKey };

const app = express();
app.use(express.json({ limit: '1mb' }));
app.get('/health/live', (_request, response) => {
  response.json({ status: 'ok' });
});
app.post('/api/v1/encrypt', (request, response) => {
  response.json({ encryptedData: encryptBatch(request.body.data, recipient) });
});
app.post('/api/v1/decrypt', (request, response) => {
  const items = (request.body.data as string[]).map(parseCiphertext);
  response.json({ decryptedData: decryptBatch(USER_ID, items, () => privateKey) });
});

const server = app.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port, userId: USER_ID }));
