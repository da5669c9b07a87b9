import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A load balancer's health check, for the round-robin proxy in front of service processes (the
 * soak's and the rolling-restart test's): polls `GET /health/ready` of every backend every
 * `intervalMs` and keeps the set of those that last answered 200, as Kubernetes' endpoints or an
 * ALB's target group do. A backend that turns 503 (draining after SIGTERM) gets no new connection
 * once the next poll has seen it; a restarted one gets them once it answers ready.
 */
export class ReadinessWatch {
  private readonly ready = new Set<string>();
  private running = false;
  private loop?: Promise<void>;

  constructor(
    /** The backends' base URLs (read at every poll, so restarted backends on new ports are followed). */
    private readonly backends: () => string[],
    private readonly intervalMs = 200,
  ) {}

  start(): this {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await Promise.all(this.backends().map((url) => this.poll(url)));
        await sleep(this.intervalMs);
      }
    })();
    return this;
  }

  isReady(url: string): boolean {
    return this.ready.has(url);
  }

  /** Resolves once a poll has seen `url` ready (so the proxy routes to it again). */
  async routed(url: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ready.has(url)) {
      if (Date.now() > deadline) throw new Error(`${url} not seen ready within ${timeoutMs} ms`);
      await sleep(this.intervalMs / 2);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async poll(url: string): Promise<void> {
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) this.ready.add(url);
      else this.ready.delete(url);
    } catch {
      this.ready.delete(url);
    }
    // Forget backends that are gone (a restarted process listens on another port).
    for (const known of this.ready) if (!this.backends().includes(known)) this.ready.delete(known);
  }
}

/** The ports of the ready backends, or of all of them when none is ready (as a balancer "fails open"). */
export function readyPorts(watch: ReadinessWatch, backends: Array<{ url: string }>): number[] {
  const ready = backends.filter((backend) => watch.isReady(backend.url));
  return (ready.length ? ready : backends).map((backend) => Number(new URL(backend.url).port));
}

/**
 * SIGTERM, then the exit awaited for up to `boundMs` (the process's SHUTDOWN_DELAY_MS and
 * SHUTDOWN_GRACE_MS, and a margin) before SIGKILL, as the kubelet waits terminationGracePeriodSeconds.
 */
export async function terminate(child: ChildProcess, boundMs: number): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    await exited;
    clearTimeout(timer);
  }
  return { exitCode: child.exitCode, signal: child.signalCode };
}
