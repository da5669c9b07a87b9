import { ApiError } from './api-error';

/**
 * Failpoints: named steps of the write paths (create, destroy, rotate, the KMS migration, the
 * shred-log replay) where a crash-consistency test makes the process fail or die
 * (test/failpoints.e2e-spec.ts). Off unless the process starts with FAILPOINTS, which the
 * configuration refuses when NODE_ENV=production: in production every `failpoint()` is a check of
 * an empty map.
 *
 * FAILPOINTS="<name>=fail,<name>=kill": `fail` throws FailpointError at that step (the operation
 * fails as a dependency failure would), `kill` ends the process at once with SIGKILL (no shutdown
 * hooks, as a crashed pod).
 */
export const FAILPOINT_NAMES = [
  'create.after-keygen',
  'create.after-commit',
  'destroy.after-intent',
  'destroy.after-commit',
  'destroy.after-log',
  'rotate.after-keygen',
  'rotate.after-commit',
  'kms-migration.after-reseal',
  'kms-migration.after-commit',
  'replay.after-destroy',
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];
export type FailpointAction = 'fail' | 'kill';

/** What a `fail` failpoint throws: a dependency failure (503 SYS002), as a lost database or KMS would give. */
export class FailpointError extends ApiError {
  constructor(readonly failpoint: FailpointName) {
    super('SYS002', 'A dependency failed (failpoint)');
    this.name = 'FailpointError';
  }
}

const armed = new Map<FailpointName, FailpointAction>();

/** Parses FAILPOINTS; the problems name each bad entry. */
export function parseFailpoints(text: string | undefined, problems: string[]): Map<FailpointName, FailpointAction> {
  const parsed = new Map<FailpointName, FailpointAction>();
  for (const entry of (text ?? '').split(',').filter(Boolean)) {
    const [name, action] = entry.trim().split('=');
    if (!(FAILPOINT_NAMES as readonly string[]).includes(name) || (action !== 'fail' && action !== 'kill')) {
      problems.push(`FAILPOINTS: "${entry}" is not <name>=fail|kill with a name among ${FAILPOINT_NAMES.join(', ')}`);
      continue;
    }
    parsed.set(name as FailpointName, action);
  }
  return parsed;
}

/** Arms exactly these failpoints for this process (the app factory, from the configuration). */
export function armFailpoints(failpoints: ReadonlyMap<FailpointName, FailpointAction>): void {
  armed.clear();
  for (const [name, action] of failpoints) armed.set(name, action);
}

/** At step `name`: nothing, unless a test armed it. */
export function failpoint(name: FailpointName): void {
  const action = armed.get(name);
  if (action === undefined) return;
  if (action === 'kill') process.kill(process.pid, 'SIGKILL');
  throw new FailpointError(name);
}
