/**
 * The kinds of background job, one entry each: its table (job-leases.ts claims, renews and fails its
 * rows; other processes' changes to it reach its subscribers through the commit watch), its worker
 * module, its service (which queues and runs its jobs through the one job queue, job-queue.ts, and
 * recovers and cancels them) and its subscribers' updates (job-updates.ts). The server recovers and
 * closes every kind from this list, and relays each table's changes to its kind; adding a kind is one
 * more entry here, with its table's lease columns (and, for one with subscribers, its trigger). The
 * shards of a pass over users split into shards (an export, a cohort or test evaluation) have no
 * subscribers: the process that asked for the pass polls them.
 */
import path from "node:path";
import type { DataSource } from "typeorm";
import type { AppConfig } from "../config.ts";
import type { JobChange, JobTableName } from "../db/commit-watch.ts";
import type { Experiment } from "../db/entities/experiment.entity.ts";
import type { TrainingJob } from "../db/entities/training-job.entity.ts";
import { getExperiment } from "../db/experiment-rows.ts";
import { findModel } from "../db/model-rows.ts";
import { EXPERIMENT_WORKER, ExperimentJobService } from "./experiment-jobs.ts";
import { EXPERIMENT_UPDATES, JobUpdates, TRAINING_JOB_UPDATES, type JobUpdate } from "./job-updates.ts";
import { TRAINING_JOB_WORKER, TrainingJobService } from "./jobs.ts";
import { EXPORT_SHARD_WORKER, ExportShardService } from "./export-shard-jobs.ts";

/** What the server asks of every kind's service. */
export interface JobKindService {
  /** Call once at server start: jobs of servers that are gone are failed, queued ones start, and a heartbeat keeps doing so. */
  recover(): Promise<unknown>;
  /** Cancels a queued or running job (a running one on another server at that server's next heartbeat). */
  cancel(id: number): Promise<unknown>;
  /** Stops the job this server runs (server shutdown). */
  close(): Promise<void>;
}

/** One kind of background job nobody subscribes to (the process that queued its jobs polls them). */
export interface SilentJobKind<Service extends JobKindService> {
  readonly table: string;
  /** The module forked for each of its jobs. */
  readonly worker: string;
  readonly service: Service;
}

/** What the server does with a kind's subscribers: hand them a change, close them at shutdown. */
interface KindSubscribers {
  changed(id: number): void;
  close(): void;
}

/** One kind of background job with subscribers: the commit watch relays other processes' changes of its table. */
export interface JobKind<Service extends JobKindService, Row, Update> extends SilentJobKind<Service> {
  readonly table: JobTableName;
  readonly updates: JobUpdates<Row, Update>;
}

/** Every kind of job of one server. */
export interface JobKinds {
  readonly training: JobKind<TrainingJobService, TrainingJob, JobUpdate>;
  readonly experiment: JobKind<ExperimentJobService, Experiment, Experiment>;
  readonly exportShard: SilentJobKind<ExportShardService>;
}

/** The kinds, as a list (recover, close, relay a change). */
export function eachJobKind(kinds: JobKinds): ReadonlyArray<SilentJobKind<JobKindService> & { readonly updates?: KindSubscribers }> {
  return Object.values(kinds) as ReadonlyArray<SilentJobKind<JobKindService> & { readonly updates?: KindSubscribers }>;
}

/** Hands a job another process changed to its kind's subscribers. */
export function relayJobChange(kinds: JobKinds, change: JobChange): void {
  for (const kind of eachJobKind(kinds)) if (kind.table === change.table) kind.updates?.changed(change.id);
}

/** Builds the kinds of one server. */
export function createJobKinds(o: {
  dataSource: DataSource;
  config: Pick<AppConfig, "dbPath" | "modelsDir"> & Partial<Pick<AppConfig, "jobLeaseSeconds" | "experimentsDir">>;
  /** The training-job worker (tests may substitute one speaking the same protocol). */
  trainingWorker?: string;
}): JobKinds {
  const { dataSource, config } = o;
  const trainingUpdates = new JobUpdates<TrainingJob, JobUpdate>({
    rules: TRAINING_JOB_UPDATES,
    read: async ({ jobId, row }) => {
      const job = row ?? (await training.get(jobId));
      return { job, model: job.modelId === null ? null : await findModel(dataSource, job.modelId) };
    },
  });
  const trainingWorker = o.trainingWorker ?? TRAINING_JOB_WORKER;
  const training = new TrainingJobService({
    dataSource,
    dbPath: config.dbPath,
    modelsDir: config.modelsDir,
    workerPath: trainingWorker,
    leaseSeconds: config.jobLeaseSeconds,
    onUpdate: (job) => trainingUpdates.changed(job.id, job),
  });
  const experimentUpdates = new JobUpdates<Experiment, Experiment>({
    rules: EXPERIMENT_UPDATES,
    read: async ({ jobId, row }) => row ?? (await getExperiment(dataSource, jobId)),
  });
  const experiment = new ExperimentJobService({
    dataSource,
    dbPath: config.dbPath,
    modelsDir: config.modelsDir,
    experimentsDir: config.experimentsDir ?? path.join(path.dirname(path.resolve(config.modelsDir)), "experiments"),
    leaseSeconds: config.jobLeaseSeconds,
    workerPath: EXPERIMENT_WORKER,
    onUpdate: (row) => experimentUpdates.changed(row.id, row),
  });
  const exportShard = new ExportShardService({ dataSource, dbPath: config.dbPath, modelsDir: config.modelsDir, leaseSeconds: config.jobLeaseSeconds });
  return {
    training: { table: "training_jobs", worker: trainingWorker, service: training, updates: trainingUpdates },
    experiment: { table: "experiments", worker: EXPERIMENT_WORKER, service: experiment, updates: experimentUpdates },
    exportShard: { table: "export_shards", worker: EXPORT_SHARD_WORKER, service: exportShard },
  };
}
