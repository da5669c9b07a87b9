import type { AddressInfo } from 'node:net';
import { BODY_LIMIT_BYTES, decrypt, encrypt, USER_ID } from './bare-envelope';

/**
 * The bare fastify reference, beside bare express (bench/bare-express.ts): the same envelope
 * and routes behind fastify's own JSON parser, nothing else, so the cost of the framework
 * choice is visible. fastify is not a dependency of the service: bench/main.ts runs this row
 * only where the package can be loaded. Run as a child process; reports its port over IPC.
 */
interface Reply {
  send(body: unknown): void;
}
interface FastifyLike {
  get(path: string, handler: (request: unknown, reply: Reply) => void): void;
  post(path: string, handler: (request: { body: { data: string[] } }, reply: Reply) => void): void;
  listen(options: { port: number; host: string }): Promise<string>;
  server: { address(): AddressInfo | string | null };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, untyped here on purpose
const fastify = (require('fastify') as (options: object) => FastifyLike)({ bodyLimit: BODY_LIMIT_BYTES, logger: false });
fastify.get('/health/live', (_request, reply) => reply.send({ status: 'ok' }));
fastify.post('/api/v1/encrypt', (request, reply) => reply.send({ encryptedData: encrypt(request.body.data) }));
fastify.post('/api/v1/decrypt', (request, reply) => reply.send({ decryptedData: decrypt(request.body.data) }));

void fastify.listen({ port: 0, host: '127.0.0.1' }).then(() => {
  process.send!({ port: (fastify.server.address() as AddressInfo).port, userId: USER_ID });
});
