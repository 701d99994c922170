/**
 * `startExperiment` (GraphQL, admin): queues the experiment, one kind of job of the job queue
 * (job-queue.ts), and runs it in a worker process (experiment-worker.ts, so training never blocks
 * the API) in a folder named after the arguments under the server's experiments folder; the same
 * arguments started again resume the same folder and row. Like training jobs, a server runs one
 * experiment at a time and the others wait QUEUED; several servers on one database each claim a
 * queued one with a conditional update, so none runs twice. The server's queue holds the row's lease
 * (heartbeat, cancel asked elsewhere) as it does a training job's, and the worker works under the
 * server's name; it exits when its server's IPC channel closes, and any server fails, once, a running
 * experiment whose owner is gone.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DataSource } from "typeorm";
import { Experiment } from "../db/entities/experiment.entity.ts";
import { claimQueuedJob, failAbandonedJobs, renewLease } from "../db/job-leases.ts";
import { endExperiment, findExperiment, findExperimentById, getExperiment, oldestQueuedExperiments, queueExperimentRow } from "../db/experiment-rows.ts";
import { findDatasetRef } from "../db/load-dataset-matrices.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { cancelExperiment, requireExperiment, EXPERIMENT_ABANDONED_MESSAGE, EXPERIMENT_CANCELLED_MESSAGE, experimentKey, plannedRuns, resolveExperimentArgs, type ExperimentArgs } from "./experiment.ts";
import { JobQueue, type JobExit, type JobRun } from "./job-queue.ts";

/** The worker module each experiment runs in. */
export const EXPERIMENT_WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "experiment-worker.ts");

/** What a server says of an experiment whose process it stopped or lost. */
export const EXPERIMENT_STOPPED_MESSAGE = "The experiment's process stopped before it finished; start it again with the same arguments to resume it.";

/** What the server hands the experiment's worker (as one JSON argument). */
export interface ExperimentJobSpec {
  readonly dbPath: string;
  readonly modelsDir: string;
  /** The server (its queue's owner name) that claimed the row and holds its lease; the worker works under it. */
  readonly owner: string;
  /** Milliseconds that lease lasts without renewal (the server's), for the worker's take-over of the row. */
  readonly leaseMs: number;
  readonly args: ExperimentArgs;
  readonly outDir: string;
}

export class ExperimentJobService {
  readonly #dataSource: DataSource;
  readonly #dir: string;
  readonly #queue: JobQueue<never>;
  readonly #onUpdate: (row: Experiment) => void;

  constructor(o: {
    dataSource: DataSource;
    dbPath: string;
    modelsDir: string;
    experimentsDir: string;
    leaseSeconds?: number;
    /** The worker module (EXPERIMENT_WORKER by default). */
    workerPath?: string;
    /** Called with the row after each change this server makes (subscriptions listen; the worker's own changes reach them through the commit watch). */
    onUpdate?: (row: Experiment) => void;
  }) {
    const dataSource = o.dataSource;
    this.#dataSource = dataSource;
    this.#dir = o.experimentsDir;
    this.#onUpdate = o.onUpdate ?? (() => undefined);
    this.#queue = new JobQueue<never>({
      leaseSeconds: o.leaseSeconds,
      runner: {
        kind: "experiment",
        workerPath: o.workerPath ?? EXPERIMENT_WORKER,
        // The row says it stopped; started again, it resumes.
        stopSignal: "SIGTERM",
        queued: async (limit) => (await oldestQueuedExperiments(dataSource, limit)).map((row) => row.id),
        claim: (c) => claimQueuedJob(dataSource, { table: Experiment, ...c }),
        renew: (c) => renewLease(dataSource, { table: Experiment, ...c }),
        failAbandoned: async (c) => {
          const failed = await failAbandonedJobs(dataSource, { table: Experiment, error: EXPERIMENT_ABANDONED_MESSAGE, exceptOwner: c.exceptOwner });
          for (const id of failed) {
            console.error(`experiment ${id}: its process is gone; marked failed`);
            await this.#notify(id);
          }
          return failed;
        },
        start: (c) => this.#run({ ...c, dbPath: o.dbPath, modelsDir: o.modelsDir }),
      },
    });
  }

  /**
   * Call once at server start: running experiments whose owner is gone are failed (once, with the
   * model they were training), queued ones start, and from then on a heartbeat does the same.
   */
  async recover(): Promise<void> {
    await this.#queue.recover();
  }

  /** Checks the arguments and queues the experiment (it starts at once when this server runs none); CONFLICT while it is queued or running. */
  async start(raw: Parameters<typeof resolveExperimentArgs>[0]): Promise<Experiment> {
    const args = resolveExperimentArgs(raw);
    const dataset = await findDatasetRef(this.#dataSource, args.dataset);
    const key = experimentKey(args);
    const outDir = path.resolve(this.#dir, `experiment-${key}`);
    // An experiment whose process died is failed first, so that it can be started again at once.
    await this.#queue.sweep();
    const row = await queueExperimentRow(this.#dataSource, { datasetId: dataset.id, key, args: { ...args }, outDir, runsTotal: plannedRuns(args), tuneTrials: args.tune ?? 0 });
    if (row === null) {
      const other = await findExperiment(this.#dataSource, { key, outDir });
      throw new UserError(ErrorCode.CONFLICT, `Experiment ${other?.id} with these arguments is ${other?.status}; wait for it, or poll experiment(id: ${other?.id}).`);
    }
    await this.#queue.pump();
    return getExperiment(this.#dataSource, row.id);
  }

  /** The experiment, or NOT_FOUND. */
  get(id: number): Promise<Experiment> {
    return requireExperiment(this.#dataSource, id);
  }

  /**
   * Cancels an experiment (experiment.ts cancelExperiment); one this server runs is stopped now, and
   * the call returns once its end is recorded.
   */
  async cancel(id: number): Promise<Experiment> {
    const asked = await cancelExperiment(this.#dataSource, id);
    const row = (await this.#queue.cancelRunning(id)) ? await getExperiment(this.#dataSource, id) : asked;
    this.#onUpdate(row);
    return row;
  }

  /** Stops the experiment this server runs (its row says so; started again, it resumes). */
  async close(): Promise<void> {
    await this.#queue.close();
  }

  /** The run of an experiment this server has just claimed: its worker's spec and log, and its end. */
  async #run(o: { id: number; owner: string; leaseMs: number; dbPath: string; modelsDir: string }): Promise<JobRun<never>> {
    const row = await getExperiment(this.#dataSource, o.id);
    this.#onUpdate(row);
    fs.mkdirSync(row.outDir, { recursive: true });
    const spec: ExperimentJobSpec = { dbPath: o.dbPath, modelsDir: o.modelsDir, owner: o.owner, leaseMs: o.leaseMs, args: row.args as unknown as ExperimentArgs, outDir: row.outDir };
    return { argument: spec, logFile: path.join(row.outDir, "experiment.log"), settle: (exit) => this.#settle({ id: o.id, owner: o.owner, exit }) };
  }

  /** The worker records its own end; one killed or crashed left its row running, which it is not. */
  async #settle(o: { id: number; owner: string; exit: JobExit }): Promise<void> {
    await this.#end(o);
    // The worker's own last write reaches subscribers through the commit watch too; the state they have is not sent twice.
    await this.#notify(o.id);
  }

  async #end(o: { id: number; owner: string; exit: JobExit }): Promise<void> {
    const { exit } = o;
    if (exit.code === 0) return;
    const row = await getExperiment(this.#dataSource, o.id);
    // Only while this server holds the row: another server may have failed it since.
    if (row.status !== "running" || row.owner !== o.owner) return;
    const error = exit.cancelled ? EXPERIMENT_CANCELLED_MESSAGE : exit.signal !== null ? `${EXPERIMENT_STOPPED_MESSAGE} (signal ${exit.signal})` : EXPERIMENT_STOPPED_MESSAGE;
    await endExperiment(this.#dataSource, { id: o.id, owner: row.owner, status: exit.cancelled ? "cancelled" : "failed", error });
  }

  /** Hands the row as it is now to the update listener. */
  async #notify(id: number): Promise<void> {
    const row = await findExperimentById(this.#dataSource, id);
    if (row !== null) this.#onUpdate(row);
  }
}
