import { CreateKeyTables1764000000000 } from './1764000000000-create-key-tables';

/** Every migration, in order. Forward-only: a released migration is never edited. */
export const MIGRATIONS = [CreateKeyTables1764000000000];
