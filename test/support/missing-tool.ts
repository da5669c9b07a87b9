import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The programs some end-to-end tests start that a developer's machine may lack. PostgreSQL is not
 * one of them: `npm test` starts one of its own when the machine has none (scripts/test-postgres.js).
 */
export type Tool = 'moto_server' | 'redis-server' | 'redis-cli' | 'promtool' | 'helm';

/**
 * Thrown by the test support code when a tool a test needs is not on this machine. Under
 * `npm test` (scripts/run-tests.js preloads test/support/skip-missing-tools.ts) the tests that
 * hit it are reported as skipped, and the run ends with a summary naming the tool, how many
 * tests it would have run and how to install it; with CI=true that summary fails the run.
 */
export class MissingTool extends Error {
  override readonly name = 'MissingTool';

  constructor(
    readonly tool: Tool,
    detail = `${tool} is not on PATH`,
  ) {
    super(`needs ${tool}: ${detail}`);
  }
}

/** `error` (or one of its causes) as a MissingTool, if it is one. */
export function missingToolOf(error: unknown): MissingTool | undefined {
  for (let current = error, depth = 0; current && depth < 10; current = (current as Error).cause, depth++) {
    const candidate = current as Partial<MissingTool>;
    if (candidate.name === 'MissingTool' && typeof candidate.tool === 'string') return current as MissingTool;
  }
  return undefined;
}

/** An executable file named `command` in one of PATH's directories. */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      const path = join(dir, command);
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  });
}

/** Throws MissingTool unless `command` (default: the tool's own name) is on PATH. */
export function requireOnPath(tool: Tool, command: string = tool): void {
  if (!onPath(command)) throw new MissingTool(tool);
}
