import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express from 'express';
import { allowedMethods } from './allowed-methods';

describe('methods a path takes', () => {
  // A real Express router, laid out as Nest lays it out: middleware mounts for every method, then the routes in a router of their own.
  const app = express();
  app.all('/api/v1/{*path}', (_request, _response, next) => next());
  const routes = express.Router();
  routes.post('/api/v1/keys', () => undefined);
  routes.get('/api/v1/keys/:userId', () => undefined);
  routes.delete('/api/v1/keys/:userId', () => undefined);
  app.use(routes);
  const methodsAt = allowedMethods((app as unknown as { router: Parameters<typeof allowedMethods>[0] }).router);

  it('lists the methods of the routes that match, HEAD with GET, and OPTIONS', () => {
    assert.deepEqual(methodsAt('/api/v1/keys'), ['POST', 'OPTIONS']);
    assert.deepEqual(methodsAt('/api/v1/keys/42'), ['GET', 'HEAD', 'DELETE', 'OPTIONS']);
  });

  it('lists none for a path no route has, whatever middleware is mounted there', () => {
    assert.deepEqual(methodsAt('/api/v1/nothing'), []);
    assert.deepEqual(methodsAt('/api/v1/keys/42/more'), []);
  });
});
