import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryFailedError } from 'typeorm';
import { ApiError, keyNotFound } from '../common/api-error';
import { isDatabaseUnavailable, TranslateDatabaseErrors } from './database-errors';

/** A pg server error as the driver raises it, wrapped by TypeORM the way a failed query is. */
const failedQuery = (code: string, message = 'server error') =>
  new QueryFailedError('SELECT 1', [], Object.assign(new Error(message), { code }));

describe('database unavailability', () => {
  it('counts timeouts, shutdowns, overload and lost or refused connections as unavailable', () => {
    for (const code of ['57014', '57P01', '57P03', '53300', '08006', '08001', '08P01']) {
      assert.equal(isDatabaseUnavailable(failedQuery(code)), true, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect')), true);
    assert.equal(isDatabaseUnavailable(new Error('Query read timeout')), true);
    assert.equal(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), true);
  });

  it('leaves mistakes of the request or the code alone: constraint, syntax, permission, lock conflict', () => {
    for (const code of ['23505', '22P02', '42601', '42501', '55P03', '40001']) {
      assert.equal(isDatabaseUnavailable(failedQuery(code)), false, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('relation "user_keys" does not exist')), false);
    assert.equal(isDatabaseUnavailable(undefined), false);
  });
});

describe('@TranslateDatabaseErrors()', () => {
  @TranslateDatabaseErrors()
  class Repository {
    readonly table = 'user_keys';
    calls = 0;

    async read(error?: unknown): Promise<string> {
      this.calls++;
      if (error) throw error;
      return this.table;
    }

    count(error?: unknown): number {
      if (error) throw error;
      return this.calls;
    }
  }

  it('answers 503 SYS002 when any method meets an unavailable database, keeping the cause for the log', async () => {
    const repository = new Repository();
    const lost = failedQuery('57P01', 'terminating connection due to administrator command');
    const refused = await repository.read(lost).catch((error: unknown) => error);
    assert.ok(refused instanceof ApiError);
    assert.equal(refused.code, 'SYS002');
    assert.equal(refused.status, 503);
    assert.equal(refused.message, 'The database is unavailable; try again later');
    assert.equal(refused.cause, lost);
    assert.throws(
      () => repository.count(new Error('Connection terminated')),
      (error: ApiError) => error.code === 'SYS002',
    );
  });

  it('passes results, this, business errors and other database errors through unchanged', async () => {
    const repository = new Repository();
    assert.equal(await repository.read(), 'user_keys');
    assert.equal(repository.count(), 1);
    const missing = keyNotFound('42');
    assert.equal(await repository.read(missing).catch((error: unknown) => error), missing);
    const duplicate = failedQuery('23505', 'duplicate key value violates unique constraint');
    assert.equal(await repository.read(duplicate).catch((error: unknown) => error), duplicate);
  });
});
