import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { TranslateDatabaseErrors } from './database-errors';

/** A blind index's definition as stored (`blind_indexes`). */
export interface BlindIndexDefinition {
  name: string;
  normalisation: 'digits' | 'email' | 'text';
  emailLocalPart: 'exact' | 'lowercase' | null;
  outputBits: number;
  expectedCardinality: number;
  exactMatch: boolean;
  currentVersion: number;
  createdBy: string | null;
  createdAt: Date;
  rotationStartedAt: Date | null;
}

/** One key version's life, without its material. */
export interface BlindIndexVersion {
  keyVersion: number;
  createdAt: Date;
  destroyedAt: Date | null;
}

/** A sealed index key that still exists, for unsealing. */
export interface SealedIndexKey {
  keyVersion: number;
  sealed: { ciphertext: Buffer; provider: string; keyId: string };
}

export type NewBlindIndex = Omit<BlindIndexDefinition, 'currentVersion' | 'createdAt' | 'rotationStartedAt'>;

/** What a rotation step found: done, no such index, or the index not in the state the step needs. */
export type RotationStep<T> = { outcome: 'done'; value: T } | { outcome: 'missing' } | { outcome: 'conflict' };

const COLUMNS = [
  'name',
  'normalisation',
  'email_local_part',
  'output_bits',
  'expected_cardinality',
  'exact_match',
  'current_version',
  'created_by',
  'created_at',
  'rotation_started_at',
];
const DEFINITION_COLUMNS = COLUMNS.join(', ');

function toDefinition(row: Record<string, any>): BlindIndexDefinition {
  return {
    name: row.name,
    normalisation: row.normalisation,
    emailLocalPart: row.email_local_part,
    outputBits: row.output_bits,
    expectedCardinality: Number(row.expected_cardinality),
    exactMatch: row.exact_match,
    currentVersion: row.current_version,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    rotationStartedAt: row.rotation_started_at ? new Date(row.rotation_started_at) : null,
  };
}

/**
 * Blind indexes and their keys (`blind_indexes`, `blind_index_keys`). Every read is on the
 * primary: index keys are unsealed into a process cache and decide what a lookup answers, and a
 * lagging replica could still hold a key whose rotation finished.
 */
@Injectable()
@TranslateDatabaseErrors()
export class BlindIndexKeyRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Stores a new index with its first key (version 1), in one transaction. Returns false, writing
   * nothing, when an index of that name exists already.
   */
  async create(index: NewBlindIndex, sealed: SealedIndexKey['sealed']): Promise<boolean> {
    return this.dataSource.transaction(async (tx) => {
      const inserted: unknown[] = await tx.query(
        `INSERT INTO blind_indexes (name, normalisation, email_local_part, output_bits, expected_cardinality, exact_match, current_version, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
         ON CONFLICT (name) DO NOTHING
      RETURNING name`,
        [
          index.name,
          index.normalisation,
          index.emailLocalPart,
          index.outputBits,
          index.expectedCardinality,
          index.exactMatch,
          index.createdBy,
        ],
      );
      if (inserted.length === 0) return false;
      await insertKey(tx, index.name, 1, sealed);
      return true;
    });
  }

  /** The index's definition, or null. */
  async findOnPrimary(name: string): Promise<BlindIndexDefinition | null> {
    const rows: Array<Record<string, any>> = await this.dataSource.query(
      `SELECT ${DEFINITION_COLUMNS} FROM blind_indexes WHERE name = $1`,
      [name],
    );
    return rows.length ? toDefinition(rows[0]) : null;
  }

  /** Every index, by name, with its key versions (oldest first). */
  async listOnPrimary(): Promise<Array<{ definition: BlindIndexDefinition; versions: BlindIndexVersion[] }>> {
    const [definitions, versions]: [Array<Record<string, any>>, Array<Record<string, any>>] = await Promise.all([
      this.dataSource.query(`SELECT ${DEFINITION_COLUMNS} FROM blind_indexes ORDER BY name`),
      this.dataSource.query(
        `SELECT index_name, key_version, created_at, destroyed_at FROM blind_index_keys ORDER BY index_name, key_version`,
      ),
    ]);
    return definitions.map((row) => ({
      definition: toDefinition(row),
      versions: versions
        .filter((version) => version.index_name === row.name)
        .map((version) => ({
          keyVersion: version.key_version,
          createdAt: new Date(version.created_at),
          destroyedAt: version.destroyed_at ? new Date(version.destroyed_at) : null,
        })),
    }));
  }

  /** The index's definition and versions, or null. */
  async describeOnPrimary(name: string): Promise<{ definition: BlindIndexDefinition; versions: BlindIndexVersion[] } | null> {
    const definition = await this.findOnPrimary(name);
    if (!definition) return null;
    const rows: Array<Record<string, any>> = await this.dataSource.query(
      `SELECT key_version, created_at, destroyed_at FROM blind_index_keys WHERE index_name = $1 ORDER BY key_version`,
      [name],
    );
    return {
      definition,
      versions: rows.map((row) => ({
        keyVersion: row.key_version,
        createdAt: new Date(row.created_at),
        destroyedAt: row.destroyed_at ? new Date(row.destroyed_at) : null,
      })),
    };
  }

  /**
   * The definition and the sealed keys not destroyed (the current one, and the previous one while
   * a rotation is in progress), newest first, in one statement; null when there is no such index.
   */
  async liveKeysOnPrimary(name: string): Promise<{ definition: BlindIndexDefinition; keys: SealedIndexKey[] } | null> {
    const rows: Array<Record<string, any>> = await this.dataSource.query(
      `SELECT ${COLUMNS.map((column) => `i.${column}`).join(', ')}, k.key_version, k.sealed_key, k.key_provider, k.kms_key_id
         FROM blind_indexes i
         LEFT JOIN blind_index_keys k ON k.index_name = i.name AND k.sealed_key IS NOT NULL
        WHERE i.name = $1
        ORDER BY k.key_version DESC`,
      [name],
    );
    if (rows.length === 0) return null;
    return {
      definition: toDefinition(rows[0]),
      keys: rows
        .filter((row) => row.sealed_key)
        .map((row) => ({
          keyVersion: row.key_version,
          sealed: { ciphertext: row.sealed_key, provider: row.key_provider, keyId: row.kms_key_id ?? 'local' },
        })),
    };
  }

  /**
   * Starts a rotation: stores key `fromVersion + 1` and makes it current, in one transaction that
   * locks the index row. Conflict when the current version is no longer `fromVersion` or a
   * previous version still lives (a rotation is already in progress).
   */
  async startRotation(name: string, fromVersion: number, sealed: SealedIndexKey['sealed']): Promise<RotationStep<number>> {
    return this.dataSource.transaction(async (tx) => {
      const [index] = await lockIndex(tx, name);
      if (!index) return { outcome: 'missing' };
      if (index.current_version !== fromVersion || index.live_versions > 1) return { outcome: 'conflict' };
      const keyVersion = fromVersion + 1;
      await insertKey(tx, name, keyVersion, sealed);
      await tx.query(`UPDATE blind_indexes SET current_version = $2, rotation_started_at = now() WHERE name = $1`, [name, keyVersion]);
      return { outcome: 'done', value: keyVersion };
    });
  }

  /**
   * Finishes a rotation: deletes the sealed key of every version older than the current one (a
   * crypto-shred of those versions) and returns the versions destroyed. Conflict when no
   * rotation is in progress.
   */
  async finishRotation(name: string): Promise<RotationStep<number[]>> {
    return this.dataSource.transaction(async (tx) => {
      const [index] = await lockIndex(tx, name);
      if (!index) return { outcome: 'missing' };
      if (index.live_versions < 2) return { outcome: 'conflict' };
      // An UPDATE … RETURNING answers [rows, affected count].
      const [destroyed]: [Array<{ key_version: number }>, number] = await tx.query(
        `UPDATE blind_index_keys SET sealed_key = NULL, destroyed_at = now()
          WHERE index_name = $1 AND key_version < $2 AND sealed_key IS NOT NULL
      RETURNING key_version`,
        [name, index.current_version],
      );
      await tx.query(`UPDATE blind_indexes SET rotation_started_at = NULL WHERE name = $1`, [name]);
      return { outcome: 'done', value: destroyed.map((row) => row.key_version).sort((a, b) => a - b) };
    });
  }
}

async function lockIndex(tx: EntityManager, name: string): Promise<Array<{ current_version: number; live_versions: number }>> {
  return tx.query(
    `SELECT i.current_version,
            (SELECT count(*)::int FROM blind_index_keys k WHERE k.index_name = i.name AND k.sealed_key IS NOT NULL) AS live_versions
       FROM blind_indexes i WHERE i.name = $1 FOR UPDATE`,
    [name],
  );
}

async function insertKey(tx: EntityManager, name: string, keyVersion: number, sealed: SealedIndexKey['sealed']): Promise<void> {
  await tx.query(
    `INSERT INTO blind_index_keys (index_name, key_version, sealed_key, key_provider, kms_key_id) VALUES ($1, $2, $3, $4, $5)`,
    [name, keyVersion, sealed.ciphertext, sealed.provider, sealed.keyId === 'local' ? null : sealed.keyId],
  );
}
