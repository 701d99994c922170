/**
 * Wiring of the prediction side of the API: the model cache over saved checkpoints (recommendations
 * and explanations), cohorts and training jobs, built once per server.
 */
import { DEFAULT_RETRIEVAL_MODE, type RetrievalMode } from "../engine/retrieval/retrieval-mode.ts";
import type { DataSource } from "typeorm";
import type { AppConfig } from "../config.ts";
import type { DatasetMatrices } from "../data/csr.ts";
import type { Experiment } from "../db/entities/experiment.entity.ts";
import type { TrainingJob } from "../db/entities/training-job.entity.ts";
import { writeOrRefuseWhenBusy } from "../db/busy.ts";
import { catalogFreshness } from "../db/catalog-freshness.ts";
import { watchCommits, type CommitWatch } from "../db/commit-watch.ts";
import { readsCrossASocket } from "../db/data-source.ts";
import { findModel, removeModelRow } from "../db/model-rows.ts";
import { loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { CohortService } from "./cohorts.ts";
import type { ExperimentJobService } from "./experiment-jobs.ts";
import { createJobKinds, eachJobKind, relayJobChange, type JobKinds } from "./job-kinds.ts";
import type { JobUpdates, JobUpdate } from "./job-updates.ts";
import { followDatasetIndex, loadDatasetIndex } from "./dataset-index.ts";
import { InferenceService, type InferenceCacheSizes } from "./inference.ts";
import { ItemAudienceService } from "./item-audience.ts";
import type { TrainingJobService } from "./jobs.ts";
import { ModelAliasDirectory } from "./model-aliases.ts";
import { shardedCohortEvaluation } from "./sharded-cohorts.ts";
import { validateShards } from "./sharded-pass.ts";
import { loadModel } from "./saved-models.ts";
import type { LoadedModel } from "./served-model.ts";

/** The services behind the prediction, cohort and training-job resolvers. */
export interface PredictionServiceSet {
  /** Recommendations, word distributions, capacity, explanations and highlights' marks: the models and datasets the API serves. */
  readonly inference: InferenceService;
  readonly cohorts: CohortService;
  /** Each item's audience under a model (Item.recommendedTo): every user's ranking, made once per model. */
  readonly audiences: ItemAudienceService;
  /** Every kind of background job (job-kinds.ts); the server recovers and closes them all. */
  readonly jobKinds: JobKinds;
  /** Training jobs (jobKinds.training.service). */
  readonly jobs: TrainingJobService;
  /** Training-job updates for subscriptions, coalesced per job (jobKinds.training.updates). */
  readonly jobUpdates: JobUpdates<TrainingJob, JobUpdate>;
  /** Experiments this server runs for startExperiment (jobKinds.experiment.service). */
  readonly experiments: ExperimentJobService;
  /** Experiment updates for subscriptions, coalesced per experiment (jobKinds.experiment.updates). */
  readonly experimentUpdates: JobUpdates<Experiment, Experiment>;
  /** The model aliases every request through `model: "…"` resolves with (read again after other processes' commits). */
  readonly aliases: ModelAliasDirectory;
  /** Other processes' commits (caches and consistent reads ask it); closed with the server. */
  readonly commits: CommitWatch;
  /**
   * Deletes a model: its row, its checkpoint folder and its cached copies. CONFLICT while it trains
   * (cancel its job first); the jobs that produced it keep their history.
   */
  removeModel(modelId: number): Promise<void>;
  /** Stops the job workers, frees cached models and stops listening to other processes (call once). */
  close(): Promise<void>;
}

/**
 * Reads a READY model's checkpoint (the training service checks it belongs to the row and dataset)
 * and rebuilds it on the current backend. NOT_FOUND for an unknown id, MODEL_NOT_READY while it
 * trains or when its training failed.
 */
export async function loadTrainedModel(options: { dataSource: DataSource; modelId: number; modelsDir?: string; retrieval?: RetrievalMode }): Promise<LoadedModel> {
  const loaded = await loadModel(options);
  return {
    modelId: loaded.modelId,
    datasetId: loaded.row.datasetId,
    datasetName: loaded.datasetName,
    variant: loaded.variant,
    model: loaded.model,
  };
}

/** How long a forward pass waits for other requests' rows on PostgreSQL (a pass itself takes tens of ms). */
const POSTGRES_SHARE_WINDOW_MS = 3;

/** Builds the prediction services of one server (or test). */
export function createPredictionServices(options: {
  dataSource: DataSource;
  config: Pick<AppConfig, "dbPath" | "modelsDir"> & Partial<Pick<AppConfig, "jobLeaseSeconds" | "experimentsDir" | "retrieval" | "cohortShards">>;
  /** Overrides of the loaders (tests count checkpoint reads through them). */
  loadModel?: (modelId: number) => Promise<LoadedModel>;
  loadDataset?: (datasetId: number) => Promise<DatasetMatrices>;
  sizes?: InferenceCacheSizes;
  /** The training-job worker script (tests may substitute one speaking the same protocol). */
  jobWorkerPath?: string;
}): PredictionServiceSet {
  const { dataSource, config } = options;
  const commits = watchCommits(dataSource);
  const inference = new InferenceService({
    loadModel: options.loadModel ?? ((modelId) => loadTrainedModel({ dataSource, modelId, modelsDir: config.modelsDir, retrieval: config.retrieval ?? DEFAULT_RETRIEVAL_MODE })),
    loadDataset: (datasetId, previous) => {
      const loadMatrices = options.loadDataset ?? ((id: number) => loadDatasetMatrices(dataSource, id));
      // After an append, only what it changed is read (followDatasetIndex).
      return previous === undefined ? loadDatasetIndex({ dataSource, datasetId, loadMatrices }) : followDatasetIndex({ dataSource, previous, loadMatrices });
    },
    sizes: options.sizes,
    retrieval: config.retrieval,
    freshness: catalogFreshness(dataSource, commits),
    shareWindowMs: readsCrossASocket(dataSource) ? POSTGRES_SHARE_WINDOW_MS : 0,
    // Cohort evaluations and audiences are cached per model too (called only after both exist, on a later request).
    onModelGone: (modelId) => {
      cohorts.forget(modelId);
      audiences.forget(modelId);
    },
    onDatasetChanged: (datasetId) => {
      cohorts.forgetDataset(datasetId);
      audiences.forgetDataset(datasetId);
    },
  });
  const jobKinds = createJobKinds({ dataSource, config, trainingWorker: options.jobWorkerPath });
  const cohortShards = validateShards({ shards: config.cohortShards ?? 1, name: "VCM_COHORT_SHARDS" });
  const cohorts = new CohortService({
    inference,
    sharded: cohortShards === 1 ? undefined : shardedCohortEvaluation({ dataSource, inference, queue: jobKinds.exportShard.service, shards: cohortShards }),
  });
  const audiences = new ItemAudienceService({ inference });
  // Jobs other servers run: their committed changes reach this server's subscribers too (a state
  // a subscriber already has, such as this server's own job's, is not sent twice).
  commits.onJobChanged((change) => relayJobChange(jobKinds, change));
  return {
    inference,
    cohorts,
    audiences,
    jobKinds,
    jobs: jobKinds.training.service,
    jobUpdates: jobKinds.training.updates,
    experiments: jobKinds.experiment.service,
    experimentUpdates: jobKinds.experiment.updates,
    aliases: new ModelAliasDirectory({ dataSource, version: () => commits.version() }),
    commits,
    removeModel: async (modelId) => {
      await deleteModel({ dataSource, inference, cohorts, modelId });
      audiences.forget(modelId);
    },
    async close() {
      for (const kind of eachJobKind(jobKinds)) {
        kind.updates?.close();
        await kind.service.close();
      }
      inference.dispose();
      await commits.close();
    },
  };
}

async function deleteModel(options: { dataSource: DataSource; inference: InferenceService; cohorts: CohortService; modelId: number }): Promise<void> {
  const { dataSource, modelId } = options;
  const row = await findModel(dataSource, modelId);
  if (row === null) throw new UserError(ErrorCode.NOT_FOUND, `No trained model has id ${modelId}; nothing was deleted.`);
  if (row.status === "training") {
    throw new UserError(
      ErrorCode.CONFLICT,
      `Model ${modelId} is still training; cancel its training job or experiment first, then delete it.`,
    );
  }
  await writeOrRefuseWhenBusy(() => removeModelRow({ dataSource, modelId }));
  options.inference.evictModel(modelId);
  options.cohorts.forget(modelId);
}
