/**
 * Admission for costly queries, so that one client's large requests cannot starve everyone else's
 * cheap ones (issue 8, item 7): queries whose estimated cost reaches `threshold` run at most
 * `concurrency` at a time; others wait their turn in arrival order, up to `maxQueue` of them and
 * `maxWaitMs` each; beyond that they are refused with SERVER_BUSY and a sentence. Cheap queries and
 * mutations never wait here.
 */
import { ErrorCode } from "../errors.ts";
import { recordGateRefusal } from "../observability/metrics.ts";
import { codedError } from "./errors.ts";

export interface HeavyGateLimits {
  /** Estimated cost (query-limits.ts) from which a query counts as heavy. */
  readonly threshold: number;
  /** Heavy queries executing at once. */
  readonly concurrency: number;
  /** Heavy queries allowed to wait; one more is refused at once. */
  readonly maxQueue: number;
  /** How long a heavy query may wait for its turn before it is refused. */
  readonly maxWaitMs: number;
}

/** One heavy query at a time suits a 2-core server: the engine's kernels use both cores already. */
export const DEFAULT_HEAVY_GATE_LIMITS: HeavyGateLimits = Object.freeze({ threshold: 2_000, concurrency: 1, maxQueue: 64, maxWaitMs: 15_000 });

export class HeavyQueryGate {
  readonly limits: HeavyGateLimits;
  #running = 0;
  readonly #waiting: Array<{ admit: () => void; refuse: (error: Error) => void }> = [];
  #closed = false;

  constructor(limits: Partial<HeavyGateLimits> = {}) {
    this.limits = Object.freeze({ ...DEFAULT_HEAVY_GATE_LIMITS, ...limits });
  }

  /** Waits for a turn (or is refused) and resolves to the function that gives the turn back, once. */
  async enter(): Promise<() => void> {
    if (this.#closed) throw this.#stopping();
    if (this.#running < this.limits.concurrency && this.#waiting.length === 0) {
      this.#running += 1;
      return this.#release();
    }
    if (this.#waiting.length >= this.limits.maxQueue) throw this.#busy();
    await new Promise<void>((resolve, reject) => {
      const entry = {
        admit: () => {
          clearTimeout(timer);
          resolve();
        },
        refuse: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const at = this.#waiting.indexOf(entry);
        // Out of the queue already: its turn was handed over and it is admitted on the next turn of the loop.
        if (at < 0) return;
        this.#waiting.splice(at, 1);
        reject(this.#busy());
      }, this.limits.maxWaitMs);
      this.#waiting.push(entry);
    });
    return this.#release();
  }

  /** At server stop: refuses every waiting query and any later one. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#waiting.splice(0)) entry.refuse(this.#stopping());
  }

  /** Heavy queries running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  #release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The turn passes straight to the next waiter, on the next turn of the event loop: admitted at once, a
      // chain of queries whose work is all cached would run back to back while no socket is read (a cheap
      // query waited 335 ms behind 20 connections of highlights). The count drops only when nobody waits.
      if (next) setImmediate(next.admit);
      else this.#running -= 1;
    };
  }

  #stopping() {
    recordGateRefusal();
    return codedError(ErrorCode.SERVER_BUSY, "The server is stopping; send the query again once it is back.");
  }

  #busy() {
    recordGateRefusal();
    return codedError(
      ErrorCode.SERVER_BUSY,
      `The server is busy with ${this.#running + this.#waiting.length} large queries; try again in a few seconds, or ask for fewer users (first) or a smaller k.`,
    );
  }
}
