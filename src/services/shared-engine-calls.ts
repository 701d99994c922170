/**
 * The one batching mechanism across requests: engine calls of the same kind (a model's scores, word
 * distributions, word effects, deletion effects) asked for by different requests that arrive
 * together run as one call. A forward pass for one row costs nearly what one for ten does (it reads
 * all the decoder's weights either way), so concurrent queries share a pass instead of one each. The
 * per-request DataLoaders (graphql/prediction-loaders.ts) batch the fields of one request; this
 * joins the requests.
 */
import { recordEnginePass } from "../observability/metrics.ts";
import { inSpan } from "../observability/tracing.ts";
import { nextTurn } from "./turns.ts";

/**
 * How long a call waits for more requests while other work uses the engine: requests of different
 * users reach the same pass a few milliseconds apart. A caller alone does not wait.
 */
const BUSY_SHARE_WINDOW_MS = 3;

/** An engine call over a list of requests that has not started yet. */
interface PendingCall<R = unknown, T = unknown> {
  readonly requests: R[];
  output: Promise<T[]>;
}

/** Schedules engine calls so that the requests of callers that arrive together share one. */
export class SharedEngineCalls {
  /** Engine calls waiting to start, by what they compute (model and kind). */
  readonly #pending = new Map<string, PendingCall>();
  readonly #shareWindowMs: number;
  /** Callers inside `during` now (the share window is longer while more than one is). */
  #callers = 0;

  /**
   * `shareWindowMs`: how long a call waits for more requests of the same kind: 0 is until the next
   * turn of the event loop (enough when the database answers synchronously, as SQLite does); over a
   * network the lookups of requests that arrive together finish a little apart, and a millisecond or
   * two merges them. While other callers use the engine, a call waits at least BUSY_SHARE_WINDOW_MS.
   */
  constructor(options: { shareWindowMs?: number } = {}) {
    this.#shareWindowMs = options.shareWindowMs ?? 0;
  }

  /** Runs a caller's work, counted among those using the engine meanwhile. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    this.#callers += 1;
    try {
      return await work();
    } finally {
      this.#callers -= 1;
    }
  }

  /**
   * Joins the requests to the call of the same kind (`key`) that is about to run, or schedules one:
   * the requests of callers that arrive before it starts (the next turn of the event loop, or after
   * the share window) go into one call, which answers each in order. Resolves to this caller's
   * answers, in its order; a failed call fails every caller that joined it.
   */
  async run<R, T>(options: { key: string; requests: ReadonlyArray<R>; run: (all: ReadonlyArray<R>) => Promise<T[]> }): Promise<T[]> {
    let call = this.#pending.get(options.key) as PendingCall<R, T> | undefined;
    if (call === undefined) {
      const created: PendingCall<R, T> = { requests: [], output: Promise.resolve([]) };
      created.output = new Promise<T[]>((resolve, reject) => {
        const start = (): void => {
          this.#pending.delete(options.key);
          timedPass(options.key, () => options.run(created.requests)).then(resolve, reject);
        };
        const windowMs = this.#callers > 1 ? Math.max(this.#shareWindowMs, BUSY_SHARE_WINDOW_MS) : this.#shareWindowMs;
        if (windowMs > 0) setTimeout(start, windowMs);
        else setImmediate(start);
      });
      this.#pending.set(options.key, created as PendingCall);
      call = created;
    }
    const offset = call.requests.length;
    call.requests.push(...options.requests);
    const output = await call.output;
    await nextTurn();
    return output.slice(offset, offset + options.requests.length);
  }
}

/** Runs one engine pass in a span, and counts it with its seconds under its kind (the key's part before `|`). */
async function timedPass<T>(key: string, run: () => Promise<T>): Promise<T> {
  const kind = key.split("|")[0];
  const started = performance.now();
  try {
    return await inSpan({ name: `engine ${kind}`, attributes: { "vcm.engine.kind": kind, "vcm.engine.call": key } }, run);
  } finally {
    recordEnginePass(kind, (performance.now() - started) / 1000);
  }
}
