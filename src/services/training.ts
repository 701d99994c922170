/**
 * Training a variant on an ingested dataset: train, save the checkpoint, evaluate on the test split
 * and record the model (its row's life is model-rows.ts's). No console output here: the CLI and the
 * API's training worker report progress through callbacks.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { DataSource } from "typeorm";
import type { DatasetMatrices } from "../data/csr.ts";
import type { TestMetrics, TrainedModel } from "../db/entities/trained-model.entity.ts";
import { createTrainingModel, failModel, publishReadyModel, type ReadyModelFields } from "../db/model-rows.ts";
import { DATABASE_WAIT_MS, retryWhileBusyOrUnavailable, writeOrRefuseWhenBusy } from "../db/busy.ts";
import { removeStoredCheckpoint, storeCheckpoint } from "../db/checkpoint-store.ts";
import { findDatasetRef, loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { currentDevice, initBackend, trainingMemoryLimit } from "../engine/runtime/index.ts";
import { assertRoomForCheckpoint, assertWritableFolder, pathExists, saveCheckpoint, type DatasetReference } from "../engine/checkpoint.ts";
import { estimateTrainingMemory, memoryRefusal, type TrainingMemoryLimit, type TrainingShape } from "../engine/memory.ts";
import { resolveStoredVcmConfig, resolveVcmConfig, resolveWarmStartConfig, WARM_START_LEARNING_RATE_DIVISOR, WEIGHT_SHAPE_FIELDS, type VcmConfig } from "../engine/config.ts";
import { trainModel, type Recommender } from "../engine/models/index.ts";
import { capabilitiesOf, type EpochRecord, type ModelSnapshot, type Variant } from "../engine/types.ts";
import { ErrorCode, isStorageFullError, storageFullMessage, UserError } from "../errors.ts";
import { evaluateOnTest, metricMap } from "./model-evaluation.ts";
import { hasTextModel, parseVariant } from "./model-names.ts";
import { assertReady, checkpointDir, datasetFingerprint, findModelRow, loadSavedSnapshot } from "./saved-models.ts";

/** Progress of trainAndSave, for a CLI or a job table. */
export type TrainingPhase = "loading" | "training" | "saving" | "evaluating";

export interface TrainAndSaveOptions {
  readonly dataSource: DataSource;
  /** The dataset to train on, by name (the CLI) or id (a training job, which resolved it once). */
  readonly dataset: string | number;
  /** Required for a run from scratch; with `fromModel`, the saved model's variant when omitted. */
  readonly variant?: Variant | string;
  /**
   * Warm start: the id of a saved model of this dataset to continue from (warmStartSource). Settings
   * omitted from `config` keep that model's values, not the defaults.
   */
  readonly fromModel?: number;
  /** Training settings; `variant` above wins over a variant given here. */
  readonly config?: Partial<VcmConfig> | Readonly<Record<string, unknown>>;
  readonly modelsDir: string;
  readonly onEpoch?: (record: EpochRecord) => void;
  /** Called when a phase starts, with the model's id once its row exists. */
  readonly onPhase?: (phase: TrainingPhase, modelId: number | undefined) => void;
  readonly signal?: AbortSignal;
  /** The memory bound to check the run against; the current backend's (trainingMemoryLimit) by default. */
  readonly memoryLimit?: TrainingMemoryLimit;
}

/** What a finished training run produced. */
export interface TrainAndSaveResult {
  readonly model: TrainedModel;
  readonly metrics: TestMetrics;
}

/**
 * Resolves the requested configuration, then loads the dataset, trains, saves the checkpoint, evaluates on the test split and records the model.
 * The row exists from the start (status "training") so its id names the checkpoint folder; a failure
 * marks it "failed" with the reason and rethrows.
 */
export async function trainAndSave(options: TrainAndSaveOptions): Promise<TrainAndSaveResult> {
  // The CLI's edge: the request's configuration is resolved here, once, and passed on typed.
  const requested = { ...(options.config ?? {}), ...(options.variant === undefined ? {} : { variant: parseVariant(options.variant) }) };
  if (options.fromModel === undefined) {
    if (options.variant === undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, "Give the variant to train (or a model to continue from).");
    return trainAndSaveResolved({ ...options, config: resolveVcmConfig(requested) });
  }
  const dataset = await retryWhileBusyOrUnavailable(() => findDatasetRef(options.dataSource, options.dataset));
  const { config } = await warmStartSource({ dataSource: options.dataSource, fromModel: options.fromModel, datasetId: dataset.id, requested });
  return trainAndSaveResolved({ ...options, config });
}

/** What a warm start keeps and what starts afresh, and why, in words (the CLI flag's help, the GraphQL input's description). */
export const WARM_START_RULES =
  "Its weights are kept bit for bit; items appended to the dataset since it was trained get rows as at a fresh start (same initializer and seed). " +
  `Settings left out keep that model's values, not the defaults, except the learning rate, which is that model's divided by ${WARM_START_LEARNING_RATE_DIVISOR}; ` +
  `the variant and ${WEIGHT_SHAPE_FIELDS.join(", ")} must equal its own (they fix the weights' shapes). ` +
  "Adam starts afresh: its moments are not saved with a model, and they were estimated on the data before the append; at the full rate its first steps knock the model off its optimum. " +
  "The β annealing continues from the β of the model's best epoch, so a trained posterior is not pulled back to β = 0 and re-annealed. " +
  "A VCM variant only (the baselines keep a factor per training user).";

/**
 * Checks that a saved model can be continued on a dataset and resolves the run's configuration: the
 * requested settings over the saved model's (not the defaults). NOT_FOUND for an unknown model;
 * BAD_USER_INPUT for a model of another dataset, of a variant that cannot continue (capability
 * warmStart), or whose variant or weight shapes differ from the requested ones (the sentence names
 * the field); MODEL_NOT_READY for one still training or failed (it has no saved weights).
 */
export async function warmStartSource(o: {
  dataSource: DataSource;
  fromModel: number;
  datasetId: number;
  requested: Partial<VcmConfig> | Readonly<Record<string, unknown>>;
}): Promise<{ row: TrainedModel; config: VcmConfig }> {
  const row = await retryWhileBusyOrUnavailable(() => findModelRow(o.dataSource, o.fromModel));
  if (row.datasetId !== o.datasetId) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Model ${row.id} was trained on dataset "${row.dataset.name}"; a warm start continues on the model's own dataset, so train on "${row.dataset.name}" or from scratch.`,
    );
  }
  if (!capabilitiesOf(parseVariant(row.variant)).warmStart) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${row.id} is a ${row.variant} model, which cannot be continued (a warm start continues VCM models only); train it from scratch.`);
  }
  assertReady(row);
  const saved = resolveStoredVcmConfig({ ...row.config, variant: row.variant });
  return { row, config: resolveWarmStartConfig({ saved, requested: o.requested, model: `model ${row.id}` }) };
}

/** What trainAndSaveResolved takes: a configuration already resolved at the edge that accepted the request. */
export type TrainAndSaveResolvedOptions = Omit<TrainAndSaveOptions, "variant" | "config"> & { readonly config: VcmConfig };

/** trainAndSave with a resolved configuration (a training job's, resolved when the job was started). */
export async function trainAndSaveResolved(options: TrainAndSaveResolvedOptions): Promise<TrainAndSaveResult> {
  const { dataSource, modelsDir, config } = options;
  const { variant } = config;
  // Before any work: a folder that cannot take the checkpoint would otherwise fail after the last epoch.
  await assertWritableFolder(modelsDir);
  options.onPhase?.("loading", undefined);
  const matrices = await retryWhileBusyOrUnavailable(() => loadDatasetMatrices(dataSource, options.dataset));
  const fingerprint = datasetFingerprint(matrices);
  // A warm start's weights are read before any row exists, so an unknown or unready model leaves nothing behind.
  const from = options.fromModel === undefined ? undefined : await loadWarmStart({ dataSource, fromModel: options.fromModel, datasetId: matrices.datasetId, modelsDir });
  const backend = await initBackend();
  // Refused before any row or work: a run that cannot fit would fail tens of seconds in, a full disk after the last epoch.
  await assertTrainingFits({ shape: trainingShapeOf(matrices), config, modelsDir, limit: options.memoryLimit ?? trainingMemoryLimit() });
  const row = await persist("creating its model row", () => createTrainingModel(dataSource, {
    datasetId: matrices.datasetId,
    variant,
    config: { ...config },
    backend,
    device: currentDevice(),
    datasetFingerprint: fingerprint,
    datasetVersion: matrices.version,
    userCount: matrices.userIds.length,
    itemCount: matrices.itemIds.length,
    fromModelId: options.fromModel ?? null,
  }));
  let model: Recommender | undefined;
  let savedDir: string | undefined;
  try {
    const dir = checkpointDir(modelsDir, row.id);
    if (await pathExists(dir)) {
      // Ids are never reused within one database, so this folder belongs to another database's model.
      throw new UserError(
        ErrorCode.CONFLICT,
        `The models folder already holds ${dir}, left by another database; move it away or point VCM_MODELS_DIR elsewhere, then train again.`,
      );
    }
    options.onPhase?.("training", row.id);
    model = await trainModel({
      train: matrices.train,
      validation: matrices.validation,
      words: matrices.words,
      config,
      onEpoch: options.onEpoch,
      signal: options.signal,
      from,
    });
    options.onPhase?.("saving", row.id);
    const dataset: DatasetReference = { id: matrices.datasetId, name: matrices.name, fingerprint };
    await saveCheckpoint({ dir, snapshot: await model.snapshot(), dataset, extra: { modelId: row.id } });
    savedDir = dir;
    // Where the database keeps checkpoints every server serves the model: it is stored before it is published.
    await persist(`storing model ${row.id}'s checkpoint`, () => storeCheckpoint(dataSource, { modelId: row.id, dir }));
    options.signal?.throwIfAborted();
    options.onPhase?.("evaluating", row.id);
    const metrics: TestMetrics = {
      vcm: metricMap(await evaluateOnTest({ model, matrices, mode: "vcm" })),
      ...(hasTextModel(variant) ? { "vcm-cd": metricMap(await evaluateOnTest({ model, matrices, mode: "vcm-cd" })) } : {}),
    };
    const history = [...model.history];
    // A cancel that arrived while saving or evaluating still wins: the model is not published.
    options.signal?.throwIfAborted();
    const ready: ReadyModelFields = {
      backend: model.backend,
      device: model.device,
      bestEpoch: model.bestEpoch,
      secondsPerEpoch: history.length === 0 ? null : history.reduce((s, h) => s + h.seconds, 0) / history.length,
      testMetrics: metrics,
      history,
      checkpointPath: dir,
    };
    // Only a row still "training" becomes ready: a server that saw this job's lease run out has failed it.
    if (!(await persist(`publishing model ${row.id}`, () => publishReadyModel(dataSource, row.id, ready)))) {
      throw new UserError(ErrorCode.CONFLICT, `Model ${row.id} was marked failed while it trained (its server stopped renewing the job); train it again.`);
    }
    Object.assign(row, ready, { status: "ready", error: null });
    return { model: row, metrics };
  } catch (error) {
    // A disk that filled up meanwhile (another writer) is a sentence, not a bug.
    const thrown = isStorageFullError(error) ? new UserError(ErrorCode.STORAGE_FULL, storageFullMessage(`The models folder ${path.resolve(modelsDir)}`)) : error;
    const reason = thrown instanceof UserError ? thrown.message : error instanceof Error && error.name === "AbortError" ? "Training was cancelled." : "Training failed with an internal error.";
    await persist(`failing model ${row.id}`, () => failModel(dataSource, { modelId: row.id, from: "training", error: reason }));
    await persist(`removing model ${row.id}'s checkpoint`, () => removeStoredCheckpoint(dataSource, row.id));
    // A failed model is never loaded, so its checkpoint (if it got that far) would only be litter.
    if (savedDir !== undefined) await fs.rm(savedDir, { recursive: true, force: true });
    throw thrown;
  } finally {
    model?.dispose();
  }
}

/** The saved weights a warm start continues from, checked to belong to the dataset trained on. */
async function loadWarmStart(o: { dataSource: DataSource; fromModel: number; datasetId: number; modelsDir: string }): Promise<ModelSnapshot> {
  const { row, snapshot } = await retryWhileBusyOrUnavailable(() => loadSavedSnapshot({ dataSource: o.dataSource, modelId: o.fromModel, modelsDir: o.modelsDir }));
  if (row.datasetId !== o.datasetId) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${row.id} was trained on dataset "${row.dataset.name}"; a warm start continues on the model's own dataset.`);
  }
  return snapshot;
}

/**
 * A write of a training run: it waits out another process's lock or a database restart for up to
 * DATABASE_WAIT_MS (docs/cli.md, "Training, evaluating and comparing models"), then fails the run with DATABASE_BUSY or DATABASE_UNAVAILABLE
 * and a sentence saying what it was doing.
 */
function persist<T>(doing: string, write: () => Promise<T>): Promise<T> {
  return writeOrRefuseWhenBusy(write, { maxMs: DATABASE_WAIT_MS, doing });
}

/**
 * Refuses, before any work, a run whose memory estimate exceeds the backend's limit (BAD_USER_INPUT,
 * with the estimate, the limit and what to change) or whose checkpoint would not fit the models
 * folder's free space (STORAGE_FULL).
 */
export async function assertTrainingFits(o: { shape: TrainingShape; config: VcmConfig; modelsDir: string; limit: TrainingMemoryLimit }): Promise<void> {
  const refusal = memoryRefusal({ shape: o.shape, config: o.config, limit: o.limit });
  if (refusal !== undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, refusal);
  await assertRoomForCheckpoint({ dir: o.modelsDir, weightBytes: estimateTrainingMemory(o.shape, o.config).checkpointBytes });
}

/** The shape of a loaded dataset as the memory estimate takes it. */
export function trainingShapeOf(m: DatasetMatrices): TrainingShape {
  return { users: m.userIds.length, items: m.itemIds.length, words: m.vocabulary.length, trainClicks: m.train.indptr[m.train.rows], wordEntries: m.words.indptr[m.words.rows] };
}
