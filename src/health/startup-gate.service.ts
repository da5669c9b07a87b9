import { Injectable } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import type { ErrorBody } from '../common/error-codes';
import { SHED_RETRY_AFTER_SECONDS } from '../common/limits';
import type { RequestWithId } from '../common/request-id';

/** Probes, scrapes, the receipt keys and the documentation are served while the gate is shut. */
const ALWAYS_SERVED = /^\/(health\/|metrics(\?|$)|\.well-known\/|docs)/;

/** One piece of start-up work the service must finish before it serves, as readiness shows it. */
export interface StartupTask {
  done: boolean;
  /** What readiness shows under the task's name: progress, the last failure, or the result. */
  detail: Record<string, unknown>;
}

/**
 * Work that must finish before the service serves anything (the shred-log replay after a
 * restore): each task is held before the HTTP server listens (`hold` in onModuleInit) and
 * released when done. Until every task is released, readiness answers 503 with each task's
 * detail, and every request but probes, metrics, the receipt keys and the documentation is
 * refused with 503 SYS002 and `Retry-After` — so no answer is given from a state a task has yet
 * to correct. Modules that hold a task report into the gate; the gate knows none of them.
 */
@Injectable()
export class StartupGate {
  private readonly tasks = new Map<string, StartupTask>();

  hold(name: string, detail: Record<string, unknown>): void {
    this.tasks.set(name, { done: false, detail });
  }

  /** A task still running says where it is (e.g. why its last attempt failed). */
  progress(name: string, detail: Record<string, unknown>): void {
    this.tasks.set(name, { done: false, detail });
  }

  release(name: string, detail: Record<string, unknown>): void {
    this.tasks.set(name, { done: true, detail });
  }

  get isOpen(): boolean {
    return [...this.tasks.values()].every((task) => task.done);
  }

  /** Every task by name, for readiness. */
  entries(): Array<[string, StartupTask]> {
    return [...this.tasks.entries()];
  }

  /** Express middleware: refuses requests with 503 SYS002 until every task is released. */
  readonly refuseUntilOpen = (request: RequestWithId, response: Response, next: NextFunction): void => {
    if (this.isOpen || ALWAYS_SERVED.test(request.url)) return next();
    const pending = this.entries()
      .filter(([, task]) => !task.done)
      .map(([name]) => name);
    const body: ErrorBody = {
      statusCode: 503,
      code: 'SYS002',
      message: `The service is starting (${pending.join(', ')}); retry after ${SHED_RETRY_AFTER_SECONDS} s`,
      requestId: request.requestId ?? 'unknown',
    };
    response.setHeader('Retry-After', String(SHED_RETRY_AFTER_SECONDS));
    response.status(503).json(body);
  };
}
