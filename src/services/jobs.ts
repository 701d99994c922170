/**
 * Training jobs started through the API. Each job trains in a child process (so queries stay
 * responsive), one job at a time (training uses every core), and reports every epoch back; the
 * parent records progress in the training_jobs table, where polling reads it.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { In, type DataSource } from "typeorm";
import { retryWhileBusy } from "../db/busy.ts";
import { Dataset } from "../db/entities/dataset.entity.ts";
import { TrainedModel } from "../db/entities/trained-model.entity.ts";
import { TrainingJob, type TrainingJobStatus } from "../db/entities/training-job.entity.ts";
import { assertWritableFolder } from "../engine/checkpoint.ts";
import { resolveVcmConfig, type VcmConfig } from "../engine/config.ts";
import type { EpochRecord, Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";

/** What the parent sends the worker when it starts (as one JSON argument). */
export interface TrainingJobSpec {
  readonly jobId: number;
  readonly dbPath: string;
  readonly modelsDir: string;
  readonly datasetName: string;
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

/** Seconds the worker gets to stop on its own after a cancel before it is killed. */
const CANCEL_GRACE_MS = 10_000;

/** Sentence recorded on jobs that were running when the server stopped without a clean shutdown. */
export const RESTART_MESSAGE = "The server restarted while this job was running; start it again.";

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
  readonly #onModelSaved: (modelId: number) => void;
  readonly #onUpdate: (job: TrainingJob) => void;
  readonly #workerPath: string;
  #running: { jobId: number; child: ChildProcess; cancelled: boolean; exited: Promise<void> } | undefined;
  /** Set by close(): no new job starts, and the one stopped is failed with a sentence that says why. */
  #closing = false;
  /** Serialises state changes so that two pumps never start two children. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: {
    dataSource: DataSource;
    dbPath: string;
    modelsDir: string;
    /** Called when a job saved a model (the server uses it to refresh caches). */
    onModelSaved?: (modelId: number) => void;
    /** The worker entry point (tests may point at another script speaking the same protocol). */
    workerPath?: string;
    /** Called with the job's row after every change of it (progress subscriptions listen to it). */
    onUpdate?: (job: TrainingJob) => void;
  }) {
    this.#dataSource = options.dataSource;
    this.#dbPath = options.dbPath;
    this.#modelsDir = options.modelsDir;
    this.#onModelSaved = options.onModelSaved ?? (() => undefined);
    this.#onUpdate = options.onUpdate ?? (() => undefined);
    this.#workerPath = options.workerPath ?? WORKER_PATH;
  }

  get #jobs() {
    return this.#dataSource.getRepository(TrainingJob);
  }

  /**
   * Call once at server start: jobs that were running belong to a process that is gone, so they
   * are marked failed; queued jobs are started again in order.
   */
  async recover(): Promise<{ failed: number; requeued: number }> {
    // Their half-made model rows would otherwise stay "training" forever.
    const orphans = await this.#jobs.find({ where: { status: "running" } });
    for (const job of orphans) {
      if (job.modelId === null) continue;
      await this.#dataSource
        .getRepository(TrainedModel)
        .update({ id: job.modelId, status: "training" }, { status: "failed", error: RESTART_MESSAGE });
    }
    const result = await this.#jobs
      .createQueryBuilder()
      .update(TrainingJob)
      .set({ status: "failed", error: RESTART_MESSAGE, finishedAt: new Date(), etaSeconds: null })
      .where("status = :status", { status: "running" })
      .execute();
    const requeued = await this.#jobs.count({ where: { status: "queued" } });
    await this.#pump();
    return { failed: result.affected ?? 0, requeued };
  }

  /** Queues a job and returns it at once (status queued, or running if nothing else was). */
  async start(options: {
    datasetName: string;
    variant: Variant;
    hyperParameters?: Readonly<Record<string, unknown>>;
  }): Promise<TrainingJob> {
    const dataset = await this.#dataSource.getRepository(Dataset).findOne({ where: { name: options.datasetName } });
    if (dataset === null) {
      throw new UserError(ErrorCode.NOT_FOUND, `There is no dataset named "${options.datasetName}"; list them with the datasets query.`);
    }
    const config = resolveVcmConfig({ ...(options.hyperParameters ?? {}), variant: options.variant });
    await assertWritableFolder(this.#modelsDir);
    const job = await this.#jobs.save(
      this.#jobs.create({
        datasetId: dataset.id,
        variant: config.variant,
        config: { ...config },
        status: "queued",
        epoch: 0,
        totalEpochs: totalEpochs(config),
        lastEpoch: null,
        bestValNdcg100: null,
        etaSeconds: null,
        modelId: null,
        error: null,
        startedAt: null,
        finishedAt: null,
      }),
    );
    await this.#pump();
    return this.get(job.id);
  }

  /** The job, or NOT_FOUND. */
  async get(id: number): Promise<TrainingJob> {
    const job = await this.#jobs.findOne({ where: { id } });
    if (job === null) throw new UserError(ErrorCode.NOT_FOUND, `There is no training job ${id}.`);
    return job;
  }

  /** Jobs newest first, optionally of one status. */
  list(options: { status?: TrainingJobStatus; limit?: number } = {}): Promise<TrainingJob[]> {
    return this.#jobs.find({
      where: options.status ? { status: options.status } : {},
      order: { id: "DESC" },
      take: options.limit ?? 100,
    });
  }

  /** Cancels a queued or running job; a finished job is a CONFLICT. */
  async cancel(id: number): Promise<TrainingJob> {
    const job = await this.get(id);
    if (isFinished(job.status)) {
      throw new UserError(ErrorCode.CONFLICT, `Training job ${id} has already ${job.status === "succeeded" ? "succeeded" : `ended (${job.status})`}; there is nothing to cancel.`);
    }
    // Decided in turn with the pump, so a queued job cannot start while it is being cancelled.
    const wasQueued = await this.#serial(async () => {
      const current = await this.get(id);
      if (current.status !== "queued") return false;
      await this.#finish(id, { status: "cancelled", error: "Cancelled before it started." });
      return true;
    });
    const running = this.#running;
    if (!wasQueued && (running === undefined || running.jobId !== id)) {
      const current = await this.get(id);
      if (!isFinished(current.status)) {
        throw new UserError(ErrorCode.CONFLICT, `Training job ${id} is not running in this server process; cancel it on the server that started it.`);
      }
      return current;
    }
    if (!wasQueued && running !== undefined) {
      running.cancelled = true;
      running.child.send({ type: "cancel" } satisfies TrainingJobCancel);
      const timer = setTimeout(() => running.child.kill("SIGKILL"), CANCEL_GRACE_MS);
      await running.exited;
      clearTimeout(timer);
    }
    return this.get(id);
  }

  /** Stops the running child at server shutdown; its job (and half-made model) are marked failed. */
  async close(): Promise<void> {
    this.#closing = true;
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
      if ((await this.#jobs.count({ where: { status: "queued" } })) === 0) return;
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
      const next = await this.#jobs.findOne({ where: { status: "queued" }, order: { id: "ASC" } });
      if (next === null) return;
      const dataset = await this.#dataSource.getRepository(Dataset).findOneOrFail({ where: { id: next.datasetId } });
      await this.#jobs.update(next.id, { status: "running", startedAt: new Date() });
      await this.#notify(next.id);
      this.#launch(next, dataset.name);
    });
  }

  #launch(job: TrainingJob, datasetName: string): void {
    const spec: TrainingJobSpec = {
      jobId: job.id,
      dbPath: this.#dbPath,
      modelsDir: this.#modelsDir,
      datasetName,
      config: resolveVcmConfig(job.config),
    };
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
        // Progress waits out another process's write lock, and a write that still fails is logged, never
        // left as a rejection that would end the server or stop the later updates.
        updates = updates
          .then(() => retryWhileBusy(() => this.#recordEpoch({ job, record: message.record, startedAt })))
          .catch((error: unknown) => console.error(`training job ${job.id}: could not record an epoch`, error));
      } else if (message.type === "model") {
        // Known from the start, so a restart can mark the half-made model failed.
        updates = updates
          .then(() =>
            retryWhileBusy(async () => {
              await this.#jobs.update(job.id, { modelId: message.modelId });
              await this.#notify(job.id);
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
          .then(() => retryWhileBusy(() => this.#settle({ jobId: job.id, outcome, cancelled: running?.cancelled ?? false, code, signal })))
          .catch((error: unknown) => console.error(`training job ${job.id}: could not record its end`, error))
          .then(() => this.#pump())
          .catch((error: unknown) => console.error("training jobs: could not start the next job", error))
          .finally(resolve);
      });
    });
    this.#running = { jobId: job.id, child, cancelled: false, exited };
  }

  async #recordEpoch(options: { job: TrainingJob; record: EpochRecord; startedAt: number }): Promise<void> {
    const { job, record, startedAt } = options;
    const current = await this.#jobs.findOne({ where: { id: job.id } });
    if (current === null) return;
    const epoch = current.epoch + 1;
    const elapsed = (Date.now() - startedAt) / 1000;
    const best = Math.max(current.bestValNdcg100 ?? Number.NEGATIVE_INFINITY, record.valNdcg100);
    const total = Math.max(current.totalEpochs, epoch);
    await this.#jobs.update(job.id, {
      epoch,
      totalEpochs: total,
      lastEpoch: record,
      bestValNdcg100: Number.isFinite(best) ? best : null,
      etaSeconds: (elapsed / epoch) * (total - epoch),
    });
    await this.#notify(job.id);
  }

  async #settle(options: {
    jobId: number;
    outcome: TrainingJobMessage | undefined;
    cancelled: boolean;
    code: number | null;
    signal: NodeJS.Signals | null;
  }): Promise<void> {
    const { jobId, outcome, cancelled } = options;
    if (outcome?.type === "done") {
      await this.#finish(jobId, { status: "succeeded", modelId: outcome.modelId });
      this.#onModelSaved(outcome.modelId);
    } else if (cancelled) {
      // The worker removes its half-made model itself; one killed after the grace period could not.
      const job = await this.#jobs.findOne({ where: { id: jobId } });
      if (job?.modelId != null) {
        await this.#dataSource.getRepository(TrainedModel).delete({ id: job.modelId, status: In(["training", "failed"]) });
      }
      await this.#finish(jobId, { status: "cancelled", error: "Cancelled while training; no model was kept.", modelId: null });
    } else if (outcome?.type === "failed") {
      await this.#finish(jobId, {
        status: "failed",
        error: outcome.userError ? outcome.message : "Training failed with an internal error; the server log has details.",
      });
      if (!outcome.userError) console.error(`training job ${jobId} failed: ${outcome.message}`);
    } else if (this.#closing) {
      await this.#finish(jobId, { status: "failed", error: STOPPED_MESSAGE });
    } else {
      const how = options.signal ? `was killed (${options.signal})` : `exited with code ${options.code}`;
      await this.#finish(jobId, { status: "failed", error: `The training process ${how} before saving a model.` });
    }
    if (outcome?.type !== "done" && !cancelled) {
      // A process that died mid-training left its model row "training"; it will never be ready.
      const job = await this.#jobs.findOne({ where: { id: jobId } });
      if (job?.modelId != null) {
        await this.#dataSource
          .getRepository(TrainedModel)
          .update({ id: job.modelId, status: "training" }, { status: "failed", error: job.error });
      }
    }
  }

  async #finish(
    jobId: number,
    change: { status: TrainingJobStatus; error?: string; modelId?: number | null },
  ): Promise<void> {
    await this.#jobs.update(jobId, {
      status: change.status,
      error: change.error ?? null,
      // A failed job keeps pointing at its failed model row (with the reason); unset means unchanged.
      ...(change.modelId === undefined ? {} : { modelId: change.modelId }),
      etaSeconds: change.status === "succeeded" ? 0 : null,
      finishedAt: new Date(),
    });
    await this.#notify(jobId);
  }

  /** Hands the job's row as it is now to the update listener (a snapshot per change). */
  async #notify(jobId: number): Promise<void> {
    const job = await this.#jobs.findOne({ where: { id: jobId } });
    if (job !== null) this.#onUpdate(job);
  }
}

/** Epochs reported by a configuration (vcm-od reports only its second phase, VAEx with VAEy frozen). */
export function totalEpochs(config: VcmConfig): number {
  if (config.variant === "popularity") return 0;
  return config.epochs;
}
