import express from 'express';
import type { AddressInfo } from 'node:net';
import { BODY_LIMIT_BYTES, decrypt, encrypt, USER_ID } from './bare-envelope';

/**
 * Reference (c) of the benchmark: the same envelope behind a bare express server — a JSON body
 * parser and the two routes, no token check, rate limit, audit, logging, validation or database.
 * It shows what any express-based service can reach on this machine, so that the service's
 * distance to the ceiling can be split into express's share and the service's own.
 * Run by bench/main.ts as a child process of its own; reports its port over IPC.
 */
const app = express();
app.use(express.json({ limit: BODY_LIMIT_BYTES }));
app.get('/health/live', (_request, response) => {
  response.json({ status: 'ok' });
});
app.post('/api/v1/encrypt', (request, response) => {
  response.json({ encryptedData: encrypt(request.body.data) });
});
app.post('/api/v1/decrypt', (request, response) => {
  response.json({ decryptedData: decrypt(request.body.data) });
});

const server = app.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port, userId: USER_ID }));
