import { CreateKeyTables1764000000000 } from './1764000000000-create-key-tables';
import { AddRotationLease1764000100000 } from './1764000100000-add-rotation-lease';

/** Every migration, in order. Forward-only: a released migration is never edited. */
export const MIGRATIONS = [CreateKeyTables1764000000000, AddRotationLease1764000100000];
