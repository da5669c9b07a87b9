import { ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { ReferenceTask } from './references';

/** Runs reference measurements one at a time in the references child process (bench/references.ts). */
export class References {
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();

  constructor() {
    this.child = fork(join(__dirname, 'references.js'), [], {
      // One key generation per core at once: libuv's pool must not be the limit on bigger machines.
      env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, availableParallelism())) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
    this.child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`the references process exited with ${code}`));
      this.pending.clear();
    });
  }

  run<T>(task: ReferenceTask): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, task });
    });
  }

  stop(): void {
    this.child.kill();
  }
}

/** Reference (c): a bare server (bench/bare-express.ts, bench/bare-fastify.ts) in a process of its own. */
export interface BareServer {
  url: string;
  userId: string;
  pid: number | undefined;
  stop(): void;
}

export type BareServerKind = 'express' | 'fastify';

export function startBareServer(kind: BareServerKind): Promise<BareServer> {
  const child = fork(join(__dirname, `bare-${kind}.js`), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bare ${kind} reference exited with ${code}`)));
    child.once('message', ({ port, userId }: { port: number; userId: string }) =>
      resolve({ url: `http://127.0.0.1:${port}`, userId, pid: child.pid, stop: () => child.kill() }),
    );
  });
}
