/**
 * Training jobs started through the API, one kind of job of the job queue (job-queue.ts). Each job
 * trains in a worker process (training-job-worker.ts, so queries stay responsive), one job at a time
 * per server (training uses every core), and reports every epoch back; the server records progress in
 * the training_jobs table, where polling reads it. Several servers may share the database: a job
 * belongs to the one that claimed it, which renews its lease (job-leases.ts).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DataSource } from "typeorm";
import { isTransientDatabaseError, retryWhileBusyOrUnavailable, writeOrRefuseWhenBusy } from "../db/busy.ts";
import { failModel, removeModelRow } from "../db/model-rows.ts";
import { claimQueuedJob, failAbandonedJobs, finishOwnedJob, recordOwnedProgress, renewLease, requestCancel } from "../db/job-leases.ts";
import { countQueuedJobs, findJob, getJob, insertQueuedJob, listJobs, oldestQueuedJobs, setJobModel } from "../db/job-rows.ts";
import type { Dataset } from "../db/entities/dataset.entity.ts";
import { TrainingJob, type TrainingJobStatus } from "../db/entities/training-job.entity.ts";
import { assertWritableFolder } from "../engine/checkpoint.ts";
import { initBackend, trainingMemoryLimit } from "../engine/runtime/index.ts";
import { resolveVcmConfig, type VcmConfig } from "../engine/config.ts";
import type { TrainingMemoryLimit } from "../engine/memory.ts";
import { capabilitiesOf, type EpochRecord, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { JobQueue, type JobExit, type JobRun } from "./job-queue.ts";
import { assertTrainingFits, warmStartSource } from "./training.ts";

/** What the parent sends the worker when it starts (as one JSON argument). */
export interface TrainingJobSpec {
  readonly jobId: number;
  readonly dbPath: string;
  readonly modelsDir: string;
  readonly datasetId: number;
  /** The full configuration, resolved once when the job was started. */
  readonly config: VcmConfig;
  /** The model the job continues from (warm start), or null for a run from scratch. */
  readonly fromModel: number | null;
}

/** Messages from the worker to the parent over the IPC channel. */
export type TrainingJobMessage =
  | { readonly type: "epoch"; readonly record: EpochRecord }
  | { readonly type: "model"; readonly modelId: number }
  | { readonly type: "done"; readonly modelId: number }
  | { readonly type: "failed"; readonly message: string; readonly userError: boolean };

/** How a job ended, as recorded on its row. */
interface JobEnd {
  readonly status: TrainingJobStatus;
  readonly error?: string;
  readonly modelId?: number | null;
}

/** Sentence recorded on jobs whose server stopped without a clean shutdown (their lease ran out). */
export const RESTART_MESSAGE = "The server that ran this job stopped before it finished; start it again.";

/** Sentence recorded on jobs stopped by a clean server shutdown. */
export const STOPPED_MESSAGE = "The server was stopped while this job was running; start it again.";

/** The worker module each training job runs in. */
export const TRAINING_JOB_WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "training-job-worker.ts");

/** Jobs that are over: their rows no longer change. */
export function isFinished(status: TrainingJobStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

/** Starts, tracks and cancels training jobs of one server; they run through the job queue (job-queue.ts). */
export class TrainingJobService {
  readonly #dataSource: DataSource;
  readonly #dbPath: string;
  readonly #modelsDir: string;
  readonly #onUpdate: (job: TrainingJob) => void;
  readonly #memoryLimit: TrainingMemoryLimit | undefined;
  readonly #queue: JobQueue<TrainingJobMessage>;

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
    this.#dataSource = options.dataSource;
    this.#dbPath = options.dbPath;
    this.#modelsDir = options.modelsDir;
    this.#onUpdate = options.onUpdate ?? (() => undefined);
    const dataSource = options.dataSource;
    this.#queue = new JobQueue<TrainingJobMessage>({
      leaseSeconds: options.leaseSeconds,
      runner: {
        kind: "training job",
        workerPath: options.workerPath ?? TRAINING_JOB_WORKER,
        // Its job (and half-made model) are marked failed with STOPPED_MESSAGE when it is gone.
        stopSignal: "SIGKILL",
        queued: async (limit) => (await oldestQueuedJobs(dataSource, limit)).map((job) => job.id),
        claim: (o) => claimQueuedJob(dataSource, { table: TrainingJob, ...o }),
        renew: (o) => renewLease(dataSource, { table: TrainingJob, ...o }),
        failAbandoned: async (o) => {
          const ids = await failAbandonedJobs(dataSource, { table: TrainingJob, error: RESTART_MESSAGE, exceptOwner: o.exceptOwner });
          for (const id of ids) await this.#notify(id);
          return ids;
        },
        start: (o) => this.#run(o.id, o.owner),
      },
    });
  }

  /**
   * Call once at server start: running jobs whose server is gone (lease run out, or a dead process on
   * this host) are marked failed with their half-made models, queued jobs start in order, and from
   * then on a heartbeat renews this server's lease and does the same for servers that die later.
   */
  async recover(): Promise<{ failed: number; requeued: number }> {
    const requeued = await countQueuedJobs(this.#dataSource);
    const { failed } = await this.#queue.recover();
    return { failed, requeued };
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
    /** Warm start: a saved model of this dataset to continue from; omitted hyper-parameters keep its values (training.ts warmStartSource). */
    fromModel?: number;
  }): Promise<TrainingJob> {
    const { dataset, fromModel } = options;
    // Resolved once, here: the row, the worker and the model all get this full configuration.
    const requested = { ...(options.hyperParameters ?? {}), variant: options.variant };
    const config =
      fromModel === undefined ? resolveVcmConfig(requested) : (await warmStartSource({ dataSource: this.#dataSource, fromModel, datasetId: dataset.id, requested })).config;
    await assertWritableFolder(this.#modelsDir);
    await this.#assertFits(dataset, config);
    const job = await writeOrRefuseWhenBusy(() =>
      insertQueuedJob(this.#dataSource, { datasetId: dataset.id, variant: config.variant, config: { ...config }, totalEpochs: totalEpochs(config), fromModelId: fromModel ?? null }),
    );
    try {
      await this.#queue.pump();
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
    // Word entries are unknown here (a lower bound); the checkpoint's size follows from the counts exactly.
    const shape = { users, items, words, trainClicks, wordEntries: 0 };
    await assertTrainingFits({ shape, config, modelsDir: this.#modelsDir, limit: this.#memoryLimit ?? trainingMemoryLimit() });
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
    const wasQueued = await writeOrRefuseWhenBusy(() => this.#queue.inTurn(async () => {
      const current = await this.get(id);
      if (current.status !== "queued") return false;
      await this.#finish(id, { status: "cancelled", error: "Cancelled before it started." });
      return true;
    }));
    if (wasQueued) return this.get(id);
    if (!(await this.#queue.cancelRunning(id))) {
      // Another server runs it: it sees the request at its next heartbeat and stops the job then.
      if (await writeOrRefuseWhenBusy(() => requestCancel(this.#dataSource, { table: TrainingJob, id }))) await this.#notify(id);
    }
    return this.get(id);
  }

  /** Stops the running child at server shutdown; its job (and half-made model) are marked failed. */
  async close(): Promise<void> {
    await this.#queue.close();
  }

  /** Resolves when no job is running or queued (tests and scripts wait on it). */
  async idle(): Promise<void> {
    await this.#queue.idle();
  }

  /** The run of a job this server has just claimed: its worker's spec, its progress and its end. */
  async #run(jobId: number, owner: string): Promise<JobRun<TrainingJobMessage>> {
    /** The row as this server last wrote it: progress is computed and published from it, one write an epoch. */
    const row = await getJob(this.#dataSource, jobId);
    this.#onUpdate(row);
    const spec: TrainingJobSpec = {
      jobId,
      dbPath: this.#dbPath,
      modelsDir: this.#modelsDir,
      datasetId: row.datasetId,
      config: row.config as unknown as VcmConfig,
      fromModel: row.fromModelId,
    };
    let outcome: TrainingJobMessage | undefined;
    const startedAt = Date.now();
    // Progress updates are chained so that the final update always lands after the last epoch's.
    let updates: Promise<unknown> = Promise.resolve();
    return {
      argument: spec,
      onMessage: (message) => {
        if (message.type === "epoch") {
          // Progress waits out another process's write lock or a database restart (DATABASE_WAIT_MS), and a
          // write that still fails is logged, never left as a rejection that would end the server or stop the later updates.
          updates = updates
            .then(() => retryWhileBusyOrUnavailable(() => this.#recordEpoch({ row, owner, record: message.record, startedAt })))
            .catch((error: unknown) => console.error(`training job ${jobId}: could not record an epoch`, error));
        } else if (message.type === "model") {
          // Known from the start, so a restart can mark the half-made model failed.
          updates = updates
            .then(() =>
              retryWhileBusyOrUnavailable(async () => {
                await setJobModel(this.#dataSource, jobId, message.modelId);
                row.modelId = message.modelId;
                this.#onUpdate({ ...row });
              }),
            )
            .catch((error: unknown) => console.error(`training job ${jobId}: could not record its model`, error));
        } else {
          outcome = message;
        }
      },
      // The job's end is what keeps its state and its model's in agreement: it waits for the progress before it, and for the lock too.
      settle: async (exit) => {
        await updates;
        await this.#settle({ jobId, owner, outcome, exit });
      },
    };
  }

/** One write per epoch: the progress is computed from the row this server keeps, then published from it. */
  async #recordEpoch(options: { row: TrainingJob; owner: string; record: EpochRecord; startedAt: number }): Promise<void> {
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
    if (!(await recordOwnedProgress(this.#dataSource, { jobId: row.id, owner: options.owner, progress }))) return;
    Object.assign(row, progress);
    this.#onUpdate({ ...row });
  }

  async #settle(options: { jobId: number; owner: string; outcome: TrainingJobMessage | undefined; exit: JobExit }): Promise<void> {
    const { jobId, owner, outcome, exit } = options;
    const { cancelled } = exit;
    let change: JobEnd;
    if (outcome?.type === "done") {
      change = { status: "succeeded", modelId: outcome.modelId };
    } else if (cancelled) {
      change = { status: "cancelled", error: "Cancelled while training; no model was kept.", modelId: null };
    } else if (outcome?.type === "failed") {
      change = { status: "failed", error: outcome.userError ? outcome.message : "Training failed with an internal error; the server log has details." };
      if (!outcome.userError) console.error(`training job ${jobId} failed: ${outcome.message}`);
    } else if (exit.closing) {
      change = { status: "failed", error: STOPPED_MESSAGE };
    } else {
      const how = exit.signal ? `was killed (${exit.signal})` : `exited with code ${exit.code}`;
      change = { status: "failed", error: `The training process ${how} before saving a model.` };
    }
    // The job's end keeps its state and its model's in agreement: each write waits out a lock or a
    // database restart on its own, so one that is retried never repeats one that was applied.
    const persist = <T>(write: () => Promise<T>): Promise<T> => retryWhileBusyOrUnavailable(write);
    const before = await persist(() => findJob(this.#dataSource, jobId));
    if (!(await persist(() => finishOwnedJob(this.#dataSource, { jobId, owner, change: endColumns(change) })))) {
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

  /** Records the end of a job no server runs (a queued one cancelled). */
  async #finish(jobId: number, change: JobEnd): Promise<boolean> {
    const applied = await finishOwnedJob(this.#dataSource, { jobId, owner: null, change: endColumns(change) });
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
