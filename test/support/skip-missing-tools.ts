/**
 * Preloaded into every end-to-end test process by scripts/run-tests.js (`--require`): a test that
 * needs a tool this machine lacks is reported as skipped instead of failing, and recorded for the
 * run's closing summary — without each test file having to ask.
 *
 * The support code throws MissingTool (test/support/missing-tool.ts) where it would start the tool
 * (moto_server, redis-server, promtool, helm). This module wraps node:test's functions so that:
 * - a test whose body throws MissingTool is skipped with the tool's name;
 * - a `before`/`beforeEach` hook that throws it marks its suite (or the file, at the top level):
 *   every test in it is then skipped, and the suite's `after`/`afterEach` hooks may fail quietly
 *   (they tear down what never started);
 * - each skipped test is written as one JSON line under TEST_MISSING_TOOLS_DIR, which
 *   run-tests.js counts per tool.
 * Everything else behaves as node:test does, including where a failure says its test was declared.
 * Callback-style functions (`(t, done)`) are not wrapped.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import nodeTest from 'node:test';
import { getCallSites } from 'node:util';
import { compileFunction } from 'node:vm';
import { MissingTool, missingToolOf } from './missing-tool';

/** A describe block (or the file itself) and the tool its setup found missing. */
interface Scope {
  readonly parent?: Scope;
  missing?: MissingTool;
}

const api = nodeTest as unknown as Record<string, any>;
const fileScope: Scope = {};
let current: Scope = fileScope;

function missingIn(scope: Scope | undefined): MissingTool | undefined {
  for (; scope; scope = scope.parent) if (scope.missing) return scope.missing;
  return undefined;
}

function record(missing: MissingTool, test: string): void {
  const dir = process.env.TEST_MISSING_TOOLS_DIR;
  if (!dir) return;
  const line = JSON.stringify({ tool: missing.tool, detail: missing.message, test, file: process.argv[1] });
  appendFileSync(join(dir, `${process.pid}.jsonl`), `${line}\n`);
}

/** node:test's (name?, options?, fn?) arguments with the function replaced by `wrap(fn)`. */
function withWrapped(args: unknown[], wrap: (fn: (...a: any[]) => any) => (...a: any[]) => any): unknown[] {
  const index = args.findLastIndex((arg) => typeof arg === 'function');
  if (index < 0) return args;
  const fn = args[index] as (...a: any[]) => any;
  if (fn.length >= 2) return args;
  return args.map((arg, i) => (i === index ? wrap(fn) : arg));
}

/**
 * `original(...args)`, called from the test file's line: node:test records where a test or hook was
 * declared from its caller's frame (a failure's "test at file:line:column"), which would otherwise
 * be the wrappers here. The call is compiled with the position of the wrapper's caller.
 */
function declare(original: (...a: unknown[]) => unknown, args: unknown[]): unknown {
  // [0] this function, [1] the wrapper below, [2] its caller in the test file.
  const site = getCallSites(3, { sourceMap: false })[2];
  if (!site?.scriptName) return original(...args);
  const prefix = 'return ';
  const call = compileFunction(`${prefix}f(...a)`, ['f', 'a'], {
    filename: site.scriptName.startsWith('file://') ? new URL(site.scriptName).pathname : site.scriptName,
    lineOffset: site.lineNumber - 1,
    columnOffset: site.columnNumber - 1 - prefix.length,
  });
  return call(original, args);
}

/** Copies the .skip/.only/.todo variants, each wrapped the same way. */
function withVariants(original: any, wrap: (original: any) => any): any {
  const wrapped = wrap(original);
  for (const variant of ['skip', 'only', 'todo', 'expectFailure'])
    if (typeof original[variant] === 'function') wrapped[variant] = wrap(original[variant]);
  return wrapped;
}

const suite = (original: any) =>
  function (...args: unknown[]) {
    return declare(
      original,
      withWrapped(
        args,
        (fn) =>
          function (this: unknown, ...a: any[]) {
            const outer = current;
            current = { parent: outer };
            try {
              return fn.apply(this, a);
            } finally {
              current = outer;
            }
          },
      ),
    );
  };

const test = (original: any) =>
  function (...args: unknown[]) {
    const scope = current;
    return declare(
      original,
      withWrapped(
        args,
        (fn) =>
          async function (this: unknown, t: any, ...a: any[]) {
            const skip = (missing: MissingTool) => {
              record(missing, t.fullName ?? t.name);
              t.skip(missing.message);
            };
            const already = missingIn(scope);
            if (already) return skip(already);
            try {
              return await fn.call(this, t, ...a);
            } catch (error) {
              const missing = missingToolOf(error);
              if (!missing) throw error;
              skip(missing);
            }
          },
      ),
    );
  };

const setupHook = (original: any) =>
  function (...args: unknown[]) {
    const scope = current;
    return declare(
      original,
      withWrapped(
        args,
        (fn) =>
          async function (this: unknown, ...a: any[]) {
            if (missingIn(scope)) return;
            try {
              return await fn.apply(this, a);
            } catch (error) {
              const missing = missingToolOf(error);
              if (!missing) throw error;
              scope.missing = missing;
            }
          },
      ),
    );
  };

const teardownHook = (original: any) =>
  function (...args: unknown[]) {
    const scope = current;
    return declare(
      original,
      withWrapped(
        args,
        (fn) =>
          async function (this: unknown, ...a: any[]) {
            try {
              return await fn.apply(this, a);
            } catch (error) {
              if (!missingIn(scope)) throw error;
            }
          },
      ),
    );
  };

api.describe = withVariants(api.describe, suite);
api.suite = withVariants(api.suite, suite);
api.it = withVariants(api.it, test);
api.test = withVariants(api.test, test);
api.before = setupHook(api.before);
api.beforeEach = setupHook(api.beforeEach);
api.after = teardownHook(api.after);
api.afterEach = teardownHook(api.afterEach);
