import { DataSource, EntityManager } from 'typeorm';

/**
 * Which database node answers a read when DATABASE_REPLICA_URLS are set. Without replicas both
 * are the one database.
 *
 * A replica lags the primary by an unknown delay, so a read may use one only when a stale answer
 * harms nobody. Every repository read either says in its name that it reads the primary
 * (`…OnPrimary`) or takes `{ from }`, whose default is `'primary'`. Reads that authorize (grants,
 * token revocations), follow a write of the same flow, decide a write, or fill a shared cache
 * always read the primary. The only reads that callers send to a replica:
 *
 * - `GET /audit` — AuditEventRepository.query
 * - `GET /keys/{userId}/access-report` — AuditEventRepository.accessReport
 * - `GET /grants` — GrantRepository.list (not /translate's grant check, which reads the primary)
 * - `GET /keys/{userId}` — UserKeyRepository.describe (a key the replica has not seen yet is
 *   looked up again on the primary before answering KEY001)
 * - the `pii_api_current_keys_by_algorithm` gauge — UserKeyRepository.currentKeysByAlgorithm (a count
 *   that may lag by the replica's delay)
 *
 * Writes, transactions and `dataSource.query` always run on the primary.
 */
export type ReadFrom = 'primary' | 'replica';

export interface ReadOptions {
  /** Default `'primary'`. */
  from?: ReadFrom;
}

/** Runs `read` on one connection of the chosen node and releases it. */
export async function readOn<T>(dataSource: DataSource, from: ReadFrom, read: (db: EntityManager) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner(from === 'primary' ? 'master' : 'slave');
  try {
    return await read(runner.manager);
  } finally {
    await runner.release();
  }
}

/** True when DATABASE_REPLICA_URLS are configured, i.e. a replica read may differ from the primary. */
export function hasReplicas(dataSource: DataSource): boolean {
  return 'replication' in dataSource.options && Boolean(dataSource.options.replication);
}
