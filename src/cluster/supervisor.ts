/**
 * `vcm serve --workers N`: one `vcm serve` process as a node:cluster primary that runs N worker
 * processes, each an ordinary server on the same port (the primary accepts the connections and hands
 * them to the workers in turn). Several processes use the cores that one event loop cannot: a request's
 * JavaScript, its garbage and its engine products run on one thread per process. The workers share the
 * database as several servers do (docs/operations.md, "Several servers").
 *
 * The primary starts the first worker alone (it migrates the database and, on an empty one, makes the
 * demo), then the others; it starts a worker again when one dies, stops them all on SIGINT or SIGTERM,
 * and gives up when workers keep dying before they serve.
 */
import cluster, { type Worker } from "node:cluster";
import os from "node:os";
import { ErrorCode, UserError } from "../errors.ts";
import { startClusterPrimaryServices } from "./primary-services.ts";

/** The most worker processes one `vcm serve` runs. */
export const MAX_SERVE_WORKERS = 64;

/** Workers in a row that may die before they serve before the primary gives up (a start that cannot succeed). */
const FAILED_STARTS_ALLOWED = 3;

/**
 * Young-generation semi-space of each worker, in MB (V8's default is 16): with requests that each live
 * a hundred milliseconds or so, a larger one lets most of their garbage die before a scavenge copies it,
 * fewer and cheaper collections for ≈ 100 MB more memory a worker (BENCHMARKS.md). A
 * `--max-semi-space-size` in NODE_OPTIONS or on node's command line wins.
 */
const WORKER_SEMI_SPACE_MB = 64;

/** How long a stopping worker may take (its server lets running requests finish) before it is killed. */
const STOP_WORKER_MS = 30_000;

/** The message a worker sends its primary once it serves, or when its start failed. */
export type WorkerMessage =
  | { readonly type: "vcm:serving"; readonly summary: Record<string, unknown> }
  | { readonly type: "vcm:start-failed"; readonly code: string; readonly message: string };

/** Parses `--workers` (else VCM_SERVE_WORKERS): a whole number from 1 (one process, no primary) to MAX_SERVE_WORKERS. */
export function serveWorkers(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const given = flag ?? (env.VCM_SERVE_WORKERS?.trim() || undefined);
  if (given === undefined) return 1;
  const workers = Number(given);
  if (!/^\d+$/.test(given) || workers < 1 || workers > MAX_SERVE_WORKERS) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--workers (or VCM_SERVE_WORKERS) must be a whole number of processes from 1 to ${MAX_SERVE_WORKERS}, got "${given}".`);
  }
  return workers;
}

/**
 * The environment of each worker: its share of the cores for OpenBLAS's and OpenMP's threads (unless
 * the caller set them), so N workers do not start N times the cores' threads and wait at each other's
 * barriers.
 */
export function workerEnv(workers: number, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const threads = String(Math.max(1, Math.floor(os.availableParallelism() / workers)));
  return {
    ...(env.OPENBLAS_NUM_THREADS === undefined ? { OPENBLAS_NUM_THREADS: threads } : {}),
    ...(env.OMP_NUM_THREADS === undefined ? { OMP_NUM_THREADS: threads } : {}),
  };
}

/** True in a process that a `vcm serve --workers` primary started. */
export function isServeWorker(): boolean {
  return cluster.isWorker;
}

/**
 * In a worker: tells the primary that this worker serves (with its summary), or why its start failed.
 * Resolves once the message is handed over.
 */
export function reportToPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });
}

/** A running primary: the first worker's summary with the workers' process ids. */
export interface SupervisedServe<S> {
  readonly summary: S & { readonly workers: number; readonly workerPids: ReadonlyArray<number> };
}

/**
 * Starts `workers` servers as cluster workers of this process, each running the same `vcm serve`
 * command line, and resolves once all serve. From then on it replaces a worker that dies and stops them
 * all (then exits) on SIGINT or SIGTERM. Rejects with a worker's own error when a start fails before
 * all serve; once serving, FAILED_STARTS_ALLOWED workers in a row that die before serving stop them all
 * and exit 1.
 */
export function superviseWorkers<S extends object>(options: { workers: number; info: (line: string) => void }): Promise<SupervisedServe<S>> {
  const { workers, info } = options;
  const env = workerEnv(workers);
  const chosen = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((arg) => arg.includes("--max-semi-space-size"));
  cluster.setupPrimary({ execArgv: chosen ? process.execArgv : [...process.execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`] });
  // Before the first fork, so the workers' first rate-limit counts and scrapes find the primary's side.
  startClusterPrimaryServices();
  const serving = new Set<Worker>();
  let stopping = false;
  let failedStarts = 0;
  let summary: S | undefined;

  return new Promise<SupervisedServe<S>>((resolve, reject) => {
    let settled = false;
    const fail = (error: UserError): void => {
      if (!settled) {
        settled = true;
        void stopAll().then(() => reject(error));
        return;
      }
      // Serving already (the summary is out): say why on stderr and stop with a failure status.
      info(`error: workers keep stopping before they serve (${error.message}); stopping.`);
      void stopAll().then(() => process.exit(1));
    };

    const stopAll = async (): Promise<void> => {
      stopping = true;
      const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
      await Promise.all(
        running.map(
          (worker) =>
            new Promise<void>((done) => {
              const kill = setTimeout(() => worker.process.kill("SIGKILL"), STOP_WORKER_MS);
              worker.once("exit", () => {
                clearTimeout(kill);
                done();
              });
              worker.process.kill("SIGTERM");
            }),
        ),
      );
    };

    const start = (): Promise<void> =>
      new Promise<void>((started) => {
        const worker = cluster.fork(env);
        let failure: UserError | undefined;
        worker.on("message", (message: WorkerMessage) => {
          if (message?.type === "vcm:serving") {
            failedStarts = 0;
            serving.add(worker);
            summary ??= message.summary as S;
            started();
          } else if (message?.type === "vcm:start-failed") {
            failure = new UserError(message.code as ErrorCode, message.message);
          }
        });
        worker.once("exit", (code, signal) => {
          const wasServing = serving.delete(worker);
          if (stopping) return;
          if (!wasServing) {
            failedStarts += 1;
            const why = failure ?? new UserError(ErrorCode.INTERNAL_SERVER_ERROR, `A server worker stopped before it served (${signal ?? `exit code ${code}`}); see its error above.`);
            // Before the first worker serves nothing is running: its own error is the answer.
            if (!settled || failedStarts >= FAILED_STARTS_ALLOWED) return fail(why);
            info(`worker ${worker.process.pid} stopped before it served (${why.message}); starting another.`);
          } else {
            info(`worker ${worker.process.pid} stopped (${signal ?? `exit code ${code}`}); starting another.`);
          }
          void start();
        });
      });

    const shutDown = (): void => {
      void stopAll().then(() => process.exit(0));
    };
    process.once("SIGINT", shutDown);
    process.once("SIGTERM", shutDown);

    void (async () => {
      // The first worker migrates the database and makes the demo on an empty one; the others find it done.
      await start();
      await Promise.all(Array.from({ length: workers - 1 }, () => start()));
      if (settled) return;
      settled = true;
      resolve({ summary: { ...(summary as S), workers, workerPids: [...serving].map((w) => w.process.pid ?? -1) } });
    })();
  });
}

/** True in a server that is not a worker of `vcm serve --workers`, or is its first worker (which says what all would). */
export function isFirstServer(): boolean {
  return !cluster.isWorker || cluster.worker?.id === 1;
}
