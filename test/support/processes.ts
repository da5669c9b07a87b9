import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls until `probe` resolves or `timeoutMs` passes, every `intervalMs`. */
export async function waitFor(what: string, probe: () => Promise<unknown>, timeoutMs = 20_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  throw new Error(`${what} did not become ready: ${(lastError as Error)?.message ?? lastError}`);
}

/**
 * Waits until the service process `child` at `url` answers /health/ready with 200 (each answer
 * read through `get`: fetch unless a caller checks them); fails at once, with the process's
 * output, if it exits first.
 */
export async function waitUntilReady(
  name: string,
  child: ChildProcess,
  output: () => string,
  url: string,
  options: { intervalMs?: number; get?: (url: string) => Promise<Response> } = {},
): Promise<void> {
  const exitedBefore = (code: number | null, signal: NodeJS.Signals | null) =>
    new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output()}`);
  if (child.exitCode !== null || child.signalCode !== null) throw exitedBefore(child.exitCode, child.signalCode);
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(exitedBefore(code, signal))));
  exited.catch(() => undefined);
  const get = options.get ?? ((target: string) => fetch(target));
  const ready = async () => {
    const response = await get(`${url}/health/ready`);
    if (response.status !== 200) throw new Error(`/health/ready answered ${response.status}`);
  };
  await Promise.race([exited, waitFor(name, ready, 60_000, options.intervalMs)]);
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export function spawnLogged(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  return { child, output: () => output };
}
