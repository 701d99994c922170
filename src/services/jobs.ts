/**
 * Training jobs started through the API. Each job trains in a child process (so queries stay
 * responsive), one job at a time per server (training uses every core), and reports every epoch back;
 * the parent records progress in the training_jobs table, where polling reads it. Several servers may
 * share the database: a job belongs to the one that claimed it, which renews its lease (job-leases.ts).
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DataSource } from "typeorm";
import { isTransientDatabaseError, retryWhileBusyOrUnavailable, writeOrRefuseWhenBusy } from "../db/busy.ts";
import { failModel, removeModelRow } from "../db/model-rows.ts";
import { claimQueuedJob, failAbandonedJobs, finishOwnedJob, newLeaseOwner, recordOwnedProgress, renewLease, requestCancel } from "../db/job-leases.ts";
import { countQueuedJobs, findJob, getJob, insertQueuedJob, listJobs, oldestQueuedJobs, setJobModel } from "../db/job-rows.ts";
import type { Dataset } from "../db/entities/dataset.entity.ts";
import type { TrainingJob, TrainingJobStatus } from "../db/entities/training-job.entity.ts";
import { assertRoomForCheckpoint, assertWritableFolder } from "../engine/checkpoint.ts";
import { initBackend, trainingMemoryLimit } from "../engine/runtime/index.ts";
import { resolveVcmConfig, type VcmConfig } from "../engine/config.ts";
import { estimateTrainingMemory, memoryRefusal, type TrainingMemoryLimit } from "../engine/memory.ts";
import { capabilitiesOf, type EpochRecord, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";

/** What the parent sends the worker when it starts (as one JSON argument). */
export interface TrainingJobSpec {
  readonly jobId: number;
  readonly dbPath: string;
  readonly modelsDir: string;
  readonly datasetId: number;
  /** The full configuration, resolved once when the job was started. */
  readonly config: VcmConfig;
}

/** Messages from the worker to the parent over the IPC channel. */
export type TrainingJobMessage =
  | { readonly type: "epoch"; readonly record: EpochRecord }
  | { readonly type: "model"; readonly modelId: number }
  | { readonly type: "done"; readonly modelId: number }
  | { readonly type: "failed"; readonly message: string; readonly userError: boolean };

/** Message from the parent asking the worker to stop after the current step. */
export interface TrainingJobCancel {
  readonly type: "cancel";
}

/** How a job ended, as recorded on its row. */
interface JobEnd {
  readonly status: TrainingJobStatus;
  readonly error?: string;
  readonly modelId?: number | null;
}

/** The job this server runs now. */
interface RunningJob {
  readonly jobId: number;
  readonly child: ChildProcess;
  cancelled: boolean;
  readonly exited: Promise<void>;
}

/** Seconds the worker gets to stop on its own after a cancel before it is killed. */
const CANCEL_GRACE_MS = 10_000;

/** Sentence recorded on jobs whose server stopped without a clean shutdown (their lease ran out). */
export const RESTART_MESSAGE = "The server that ran this job stopped before it finished; start it again.";

/** Sentence recorded on jobs stopped by a clean server shutdown. */
export const STOPPED_MESSAGE = "The server was stopped while this job was running; start it again.";

const WORKER_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), "training-job-worker.ts");

/** tsx's loader by absolute URL, so the child finds it whatever the working directory. */
const TSX_LOADER = import.meta.resolve("tsx");

/** Jobs that are over: their rows no longer change. */
export function isFinished(status: TrainingJobStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

/** Starts, tracks and cancels training jobs of one server. */
export class TrainingJobService {
  readonly #dataSource: DataSource;
  readonly #dbPath: string;
  readonly #modelsDir: string;
  readonly #onUpdate: (job: TrainingJob) => void;
  readonly #workerPath: string;
  #running: RunningJob | undefined;
  /** This process's name in the owner column of the jobs it runs. */
  readonly #owner: string;
  readonly #leaseMs: number;
  /** Renews the running job's lease, fails abandoned jobs and picks up queued ones (started by recover()). */
  #heartbeat: NodeJS.Timeout | undefined;
  /** Set by close(): no new job starts, and the one stopped is failed with a sentence that says why. */
  #closing = false;
  readonly #memoryLimit: TrainingMemoryLimit | undefined;
  /** Serialises state changes so that two pumps never start two children. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: {
    dataSource: DataSource;
    dbPath: string;
    modelsDir: string;
    /** The worker entry point (tests may point at another script speaking the same protocol). */
    workerPath?: string;
    /** Called with the job's row after every change of it (progress subscriptions listen to it). */
    onUpdate?: (job: TrainingJob) => void;
    /** Seconds a job's lease lasts without renewal (AppConfig.jobLeaseSeconds); renewed every third of it. */
    leaseSeconds?: number;
    /** The memory bound jobs are checked against before they are queued; the backend's (trainingMemoryLimit) by default. */
    memoryLimit?: TrainingMemoryLimit;
  }) {
    this.#memoryLimit = options.memoryLimit;
    this.#owner = newLeaseOwner();
    this.#leaseMs = (options.leaseSeconds ?? 30) * 1000;
    this.#dataSource = options.dataSource;
    this.#dbPath = options.dbPath;
    this.#modelsDir = options.modelsDir;
    this.#onUpdate = options.onUpdate ?? (() => undefined);
    this.#workerPath = options.workerPath ?? WORKER_PATH;
  }

  /**
   * Call once at server start: running jobs whose server is gone (lease run out, or a dead process on
   * this host) are marked failed with their half-made models, queued jobs start in order, and from
   * then on a heartbeat renews this server's lease and does the same for servers that die later.
   */
  async recover(): Promise<{ failed: number; requeued: number }> {
    const failed = await this.#failAbandoned();
    const requeued = await countQueuedJobs(this.#dataSource);
    await this.#pump();
    if (this.#heartbeat === undefined && !this.#closing) {
      this.#heartbeat = setInterval(() => void this.#beat(), Math.max(250, Math.floor(this.#leaseMs / 3)));
      this.#heartbeat.unref();
    }
    return { failed, requeued };
  }

  /** One heartbeat: renew (or learn that another server took the job away), then sweep and pump. */
  async #beat(): Promise<void> {
    try {
      const running = this.#running;
      if (running !== undefined) {
        const lease = await renewLease(this.#dataSource, { jobId: running.jobId, owner: this.#owner, leaseMs: this.#leaseMs });
        if (!lease.held) {
          // Failed elsewhere after our lease ran out (the database was locked too long): stop, publish nothing.
          console.error(`training job ${running.jobId}: another server failed it after this server's lease ran out; stopping it`);
          running.child.kill("SIGKILL");
        } else if (lease.cancelRequested && !running.cancelled) {
          void this.#cancelRunning(running);
        }
      }
      await this.#failAbandoned();
      await this.#pump();
    } catch (error) {
      // Another process's long write holds the lock, or the database is restarting: the next beat tries again (the lease outlasts a few).
      if (!isTransientDatabaseError(error)) console.error("training jobs: heartbeat failed; trying again at the next one", error);
    }
  }

  /** Fails running jobs of servers that are gone (each exactly once, whichever server gets there first). */
  async #failAbandoned(): Promise<number> {
    const ids = await failAbandonedJobs(this.#dataSource, { error: RESTART_MESSAGE, exceptOwner: this.#owner });
    for (const id of ids) await this.#notify(id);
    return ids.length;
  }

  /** Queues a job and returns it at once (status queued, or running if nothing else was). */
  async start(options: {
    /**
     * The dataset, as the caller found it (the job keeps its id from here to the worker); with its
     * counts, a run that cannot fit in memory is refused here, before it is queued.
     */
    dataset: Pick<Dataset, "id" | "name"> & Partial<Pick<Dataset, "userCount" | "itemCount" | "vocabularySize" | "trainClickCount">>;
    variant: Variant;
    hyperParameters?: Readonly<Record<string, unknown>>;
  }): Promise<TrainingJob> {
    const { dataset } = options;
    // Resolved once, here: the row, the worker and the model all get this full configuration.
    const config = resolveVcmConfig({ ...(options.hyperParameters ?? {}), variant: options.variant });
    await assertWritableFolder(this.#modelsDir);
    await this.#assertFits(dataset, config);
    const job = await writeOrRefuseWhenBusy(() =>
      insertQueuedJob(this.#dataSource, { datasetId: dataset.id, variant: config.variant, config: { ...config }, totalEpochs: totalEpochs(config) }),
    );
    try {
      await this.#pump();
    } catch (error) {
      // Queued all the same: the next heartbeat starts it once the lock is released or the database is back.
      if (!isTransientDatabaseError(error)) throw error;
    }
    return this.get(job.id);
  }

  /**
   * Refuses (BAD_USER_INPUT, with the estimate, the limit and what to change) a run whose lower-bound
   * memory estimate exceeds the backend's limit, and (STORAGE_FULL) one whose checkpoint would not fit
   * the models folder's free space; the worker checks both again with the exact shape.
   */
  async #assertFits(dataset: Parameters<TrainingJobService["start"]>[0]["dataset"], config: VcmConfig): Promise<void> {
    const { userCount: users, itemCount: items, vocabularySize: words, trainClickCount: trainClicks } = dataset;
    if (users === undefined || items === undefined || words === undefined || trainClicks === undefined) return;
    if (this.#memoryLimit === undefined) await initBackend();
    const limit = this.#memoryLimit ?? trainingMemoryLimit();
    const shape = { users, items, words, trainClicks, wordEntries: 0 };
    const refusal = memoryRefusal({ shape, config, limit });
    if (refusal !== undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, refusal);
    // The checkpoint's size follows from the parameter count, which the counts fix exactly.
    await assertRoomForCheckpoint({ dir: this.#modelsDir, weightBytes: estimateTrainingMemory(shape, config).checkpointBytes });
  }

  /** The job, or NOT_FOUND. */
  async get(id: number): Promise<TrainingJob> {
    const job = await findJob(this.#dataSource, id);
    if (job === null) throw new UserError(ErrorCode.NOT_FOUND, `There is no training job ${id}.`);
    return job;
  }

  /** Jobs newest first, optionally of one status. */
  list(options: { status?: TrainingJobStatus; limit?: number } = {}): Promise<TrainingJob[]> {
    return listJobs(this.#dataSource, { status: options.status, limit: options.limit ?? 100 });
  }

  /** Cancels a queued or running job; a finished job is a CONFLICT. */
  async cancel(id: number): Promise<TrainingJob> {
    const job = await this.get(id);
    if (isFinished(job.status)) {
      throw new UserError(ErrorCode.CONFLICT, `Training job ${id} has already ${job.status === "succeeded" ? "succeeded" : `ended (${job.status})`}; there is nothing to cancel.`);
    }
    // Decided in turn with the pump, so a queued job cannot start while it is being cancelled.
    const wasQueued = await writeOrRefuseWhenBusy(() => this.#serial(async () => {
      const current = await this.get(id);
      if (current.status !== "queued") return false;
      await this.#finish(id, { status: "cancelled", error: "Cancelled before it started." }, { owned: false });
      return true;
    }));
    const running = this.#running;
    if (!wasQueued && (running === undefined || running.jobId !== id)) {
      // Another server runs it: it sees the request at its next heartbeat and stops the job then.
      if (await writeOrRefuseWhenBusy(() => requestCancel(this.#dataSource, id))) await this.#notify(id);
      return this.get(id);
    }
    if (!wasQueued && running !== undefined) await this.#cancelRunning(running);
    return this.get(id);
  }

  /** Asks the running child to stop, kills it after the grace period, and waits for its end to be recorded. */
  async #cancelRunning(running: RunningJob): Promise<void> {
    running.cancelled = true;
    running.child.send({ type: "cancel" } satisfies TrainingJobCancel);
    const timer = setTimeout(() => running.child.kill("SIGKILL"), CANCEL_GRACE_MS);
    await running.exited;
    clearTimeout(timer);
  }

  /** Stops the running child at server shutdown; its job (and half-made model) are marked failed. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    const running = this.#running;
    if (running === undefined) return;
    running.child.kill("SIGKILL");
    await running.exited;
  }

  /** Resolves when no job is running or queued (tests and scripts wait on it). */
  async idle(): Promise<void> {
    for (;;) {
      const running = this.#running;
      if (running !== undefined) {
        await running.exited;
        await this.#queue;
        continue;
      }
      if ((await countQueuedJobs(this.#dataSource)) === 0) return;
      await this.#pump();
      if (this.#running === undefined) return;
    }
  }

  /** Runs state changes one after another; a failed one does not block the next. */
  #serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Starts the oldest queued job when no job is running. */
  #pump(): Promise<void> {
    return this.#serial(async () => {
      if (this.#running !== undefined || this.#closing) return;
      const queued = await oldestQueuedJobs(this.#dataSource, 10);
      for (const next of queued) {
        // Another server on the database may claim the same job at the same moment: one wins.
        if (!(await claimQueuedJob(this.#dataSource, { jobId: next.id, owner: this.#owner, leaseMs: this.#leaseMs }))) continue;
        const claimed = await getJob(this.#dataSource, next.id);
        this.#onUpdate(claimed);
        this.#launch(claimed);
        return;
      }
    });
  }

  #launch(job: TrainingJob): void {
    const spec: TrainingJobSpec = {
      jobId: job.id,
      dbPath: this.#dbPath,
      modelsDir: this.#modelsDir,
      datasetId: job.datasetId,
      config: job.config as unknown as VcmConfig,
    };
    /** The row as this server last wrote it: progress is computed and published from it, one write an epoch. */
    const row = job;
    // tsx must be registered in the child too: the worker is TypeScript.
    const child = fork(this.#workerPath, [JSON.stringify(spec)], {
      execArgv: ["--import", TSX_LOADER],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let outcome: TrainingJobMessage | undefined;
    const startedAt = Date.now();
    // Progress updates are chained so that the final update always lands after the last epoch's.
    let updates: Promise<unknown> = Promise.resolve();
    child.on("message", (message: TrainingJobMessage) => {
      if (message.type === "epoch") {
        // Progress waits out another process's write lock or a database restart (DATABASE_WAIT_MS), and a
        // write that still fails is logged, never left as a rejection that would end the server or stop the later updates.
        updates = updates
          .then(() => retryWhileBusyOrUnavailable(() => this.#recordEpoch({ row, record: message.record, startedAt })))
          .catch((error: unknown) => console.error(`training job ${job.id}: could not record an epoch`, error));
      } else if (message.type === "model") {
        // Known from the start, so a restart can mark the half-made model failed.
        updates = updates
          .then(() =>
            retryWhileBusyOrUnavailable(async () => {
              await setJobModel(this.#dataSource, job.id, message.modelId);
              row.modelId = message.modelId;
              this.#onUpdate({ ...row });
            }),
          )
          .catch((error: unknown) => console.error(`training job ${job.id}: could not record its model`, error));
      } else {
        outcome = message;
      }
    });
    const exited = new Promise<void>((resolve) => {
      child.on("exit", (code, signal) => {
        const running = this.#running;
        this.#running = undefined;
        updates
          // The job's end is what keeps its state and its model's in agreement: it waits for the lock too.
          .then(() => this.#settle({ jobId: job.id, outcome, cancelled: running?.cancelled ?? false, code, signal }))
          .catch((error: unknown) => console.error(`training job ${job.id}: could not record its end`, error))
          .then(() => this.#pump())
          .catch((error: unknown) => console.error("training jobs: could not start the next job", error))
          .finally(resolve);
      });
    });
    this.#running = { jobId: job.id, child, cancelled: false, exited };
  }

  /** One write per epoch: the progress is computed from the row this server keeps, then published from it. */
  async #recordEpoch(options: { row: TrainingJob; record: EpochRecord; startedAt: number }): Promise<void> {
    const { row, record, startedAt } = options;
    const epoch = row.epoch + 1;
    const elapsed = (Date.now() - startedAt) / 1000;
    const best = Math.max(row.bestValNdcg100 ?? Number.NEGATIVE_INFINITY, record.valNdcg100);
    const total = Math.max(row.totalEpochs, epoch);
    const progress = {
      epoch,
      totalEpochs: total,
      lastEpoch: record,
      bestValNdcg100: Number.isFinite(best) ? best : null,
      etaSeconds: (elapsed / epoch) * (total - epoch),
    };
    // Only while this server still owns the job (another may have failed it after a lapsed lease).
    if (!(await recordOwnedProgress(this.#dataSource, { jobId: row.id, owner: this.#owner, progress }))) return;
    Object.assign(row, progress);
    this.#onUpdate({ ...row });
  }

  async #settle(options: {
    jobId: number;
    outcome: TrainingJobMessage | undefined;
    cancelled: boolean;
    code: number | null;
    signal: NodeJS.Signals | null;
  }): Promise<void> {
    const { jobId, outcome, cancelled } = options;
    let change: JobEnd;
    if (outcome?.type === "done") {
      change = { status: "succeeded", modelId: outcome.modelId };
    } else if (cancelled) {
      change = { status: "cancelled", error: "Cancelled while training; no model was kept.", modelId: null };
    } else if (outcome?.type === "failed") {
      change = { status: "failed", error: outcome.userError ? outcome.message : "Training failed with an internal error; the server log has details." };
      if (!outcome.userError) console.error(`training job ${jobId} failed: ${outcome.message}`);
    } else if (this.#closing) {
      change = { status: "failed", error: STOPPED_MESSAGE };
    } else {
      const how = options.signal ? `was killed (${options.signal})` : `exited with code ${options.code}`;
      change = { status: "failed", error: `The training process ${how} before saving a model.` };
    }
    // The job's end keeps its state and its model's in agreement: each write waits out a lock or a
    // database restart on its own, so one that is retried never repeats one that was applied.
    const persist = <T>(write: () => Promise<T>): Promise<T> => retryWhileBusyOrUnavailable(write);
    const before = await persist(() => findJob(this.#dataSource, jobId));
    if (!(await persist(() => finishOwnedJob(this.#dataSource, { jobId, owner: this.#owner, change: endColumns(change) })))) {
      // Another server failed the job (and its model) after this server's lease ran out: its word stands.
      console.error(`training job ${jobId}: not recorded as ${change.status}, another server had already failed it`);
      return;
    }
    await persist(() => this.#notify(jobId));
    const modelId = before?.modelId ?? null;
    if (change.status !== "succeeded" && modelId !== null && cancelled) {
      // The worker removes its half-made model itself; one killed after the grace period could not.
      await persist(() => removeModelRow({ dataSource: this.#dataSource, modelId, onlyIf: ["training", "failed"] }));
    } else if (change.status !== "succeeded" && modelId !== null) {
      // A process that died mid-training left its model row "training"; it will never be ready.
      await persist(() => failModel(this.#dataSource, { modelId, from: "training", error: change.error ?? "The training process stopped before saving a model." }));
    }
  }

  /**
   * Records a job's end; `owned` ends a job this server runs, which is skipped (false) when another
   * server took it away meanwhile. Unowned ends (a queued job cancelled) always apply.
   */
  async #finish(jobId: number, change: JobEnd, o: { owned: boolean }): Promise<boolean> {
    const applied = await finishOwnedJob(this.#dataSource, { jobId, owner: o.owned ? this.#owner : null, change: endColumns(change) });
    if (applied) await this.#notify(jobId);
    return applied;
  }

  /** Hands the job's row as it is now to the update listener (a snapshot per change). */
  async #notify(jobId: number): Promise<void> {
    const job = await findJob(this.#dataSource, jobId);
    if (job !== null) this.#onUpdate(job);
  }
}

/** The columns a job's end writes. */
function endColumns(change: JobEnd): Parameters<typeof finishOwnedJob>[1]["change"] {
  return {
    status: change.status,
    error: change.error ?? null,
    // A failed job keeps pointing at its failed model row (with the reason); unset means unchanged.
    ...(change.modelId === undefined ? {} : { modelId: change.modelId }),
    etaSeconds: change.status === "succeeded" ? 0 : null,
    finishedAt: new Date(),
  };
}

/** Epochs reported by a configuration (vcm-od reports only its second phase, VAEx with VAEy frozen). */
export function totalEpochs(config: VcmConfig): number {
  if (!capabilitiesOf(config.variant).trained) return 0;
  return config.epochs;
}
