/**
 * Training use cases: train a variant on an ingested dataset, save its checkpoint, evaluate it on the
 * test split and record it; re-evaluate, compare (paired t-test over users), list and load saved models.
 * No console output here: the CLI and the API's training worker report progress through callbacks.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import type { DataSource } from "typeorm";
import type { CsrMatrix, DatasetMatrices } from "../data/csr.ts";
import { TrainedModel, type MetricMap, type TestMetrics } from "../db/entities/trained-model.entity.ts";
import { findDatasetRef, loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { currentDevice, initBackend } from "../engine/backend.ts";
import { assertWritableFolder, loadCheckpoint, pathExists, saveCheckpoint, type CheckpointManifest, type DatasetReference } from "../engine/checkpoint.ts";
import { resolveVcmConfig, type VcmConfig } from "../engine/config.ts";
import { evaluateRanking, type RankingEvaluation } from "../engine/evaluate.ts";
import { VcmModel } from "../engine/model.ts";
import { pairedTTest, type PairedComparison } from "../engine/stats.ts";
import { trainModel } from "../engine/train.ts";
import { VARIANTS, type EpochRecord, type PredictionMode, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";

/** The paper's cut-offs R for NDCG@R and Recall@R. */
export const METRIC_CUTOFFS: ReadonlyArray<number> = [10, 20, 50, 100];

/** Every metric name, in display order: ndcg@10 … ndcg@100, recall@10 … recall@100. */
export const METRIC_NAMES: ReadonlyArray<string> = [
  ...METRIC_CUTOFFS.map((k) => `ndcg@${k}`),
  ...METRIC_CUTOFFS.map((k) => `recall@${k}`),
];

export const PREDICTION_MODES: ReadonlyArray<PredictionMode> = ["vcm", "vcm-cd"];

/** Whether a variant has a VAEy, and so a vcm-cd (review2click) mode. */
export function hasTextModel(variant: Variant): boolean {
  return variant !== "popularity";
}

/** Checks a variant name from the outside world. */
export function parseVariant(name: string): Variant {
  if (!VARIANTS.includes(name as Variant)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown variant "${name}"; choose one of ${VARIANTS.join(", ")}.`);
  }
  return name as Variant;
}

/** Checks a prediction mode name from the outside world. */
export function parseMode(name: string): PredictionMode {
  if (!PREDICTION_MODES.includes(name as PredictionMode)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown mode "${name}"; choose one of ${PREDICTION_MODES.join(", ")}.`);
  }
  return name as PredictionMode;
}

/** Checks a metric name (ndcg@R or recall@R for R in 10, 20, 50, 100). */
export function parseMetric(name: string): string {
  const normalised = name.trim().toLowerCase();
  if (!METRIC_NAMES.includes(normalised)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown metric "${name}"; choose one of ${METRIC_NAMES.join(", ")}.`);
  }
  return normalised;
}

/**
 * A short hash of a dataset version: its counts and its id maps. A re-ingested dataset with other
 * users, items or words gets another fingerprint, so an old model is not silently applied to it.
 */
export function datasetFingerprint(m: DatasetMatrices): string {
  const hash = createHash("sha256");
  const nnz = (x: CsrMatrix): number => x.indptr[x.rows];
  hash.update(JSON.stringify([m.userIds.length, m.itemIds.length, m.vocabulary.length, nnz(m.train), nnz(m.validation), nnz(m.test), nnz(m.words)]));
  for (const list of [m.userIds, m.itemIds, m.vocabulary]) {
    hash.update("\u0000");
    for (const id of list) hash.update(`${id}\n`);
  }
  return `sha256:${hash.digest("hex").slice(0, 32)}`;
}

/** Folder of a model's checkpoint under the models folder. */
export function checkpointDir(modelsDir: string, modelId: number): string {
  return path.join(path.resolve(modelsDir), `model-${modelId}`);
}

/** Metrics of one evaluation with the per-user values kept for comparisons. */
export interface ModelEvaluation {
  readonly modelId: number;
  readonly datasetName: string;
  readonly variant: Variant;
  readonly mode: PredictionMode;
  /** Users with held-out test items (the users the means are over). */
  readonly users: number;
  /** ndcg@10 … recall@100 means over those users. */
  readonly metrics: MetricMap;
  readonly ranking: RankingEvaluation;
}

/**
 * Ranks all items for every user with test items from the training clicks (vcm) or the bag of words
 * (vcm-cd), excluding the user's training clicks, and scores the test clicks.
 */
export async function evaluateOnTest(options: { model: VcmModel; matrices: DatasetMatrices; mode: PredictionMode }): Promise<RankingEvaluation> {
  const { model, matrices, mode } = options;
  if (mode === "vcm-cd" && !hasTextModel(model.variant)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "The popularity baseline has no text model, so it has no vcm-cd mode; use --mode vcm.");
  }
  return evaluateRanking({
    model,
    mode,
    input: mode === "vcm" ? matrices.train : matrices.words,
    heldOut: matrices.test,
    exclude: matrices.train,
    ks: METRIC_CUTOFFS,
  });
}

function metricMap(ranking: RankingEvaluation): MetricMap {
  return Object.fromEntries(METRIC_NAMES.map((name) => [name, ranking.means[name]]));
}

function countDefined(values: Float64Array): number {
  let n = 0;
  for (const v of values) if (Number.isFinite(v)) n += 1;
  return n;
}

/** Progress of trainAndSave, for a CLI or a job table. */
export type TrainingPhase = "loading" | "training" | "saving" | "evaluating";

export interface TrainAndSaveOptions {
  readonly dataSource: DataSource;
  readonly datasetName: string;
  readonly variant: Variant | string;
  /** Training settings; `variant` above wins over a variant given here. */
  readonly config?: Partial<VcmConfig> | Readonly<Record<string, unknown>>;
  readonly modelsDir: string;
  readonly onEpoch?: (record: EpochRecord) => void;
  /** Called when a phase starts, with the model's id once its row exists. */
  readonly onPhase?: (phase: TrainingPhase, modelId: number | undefined) => void;
  readonly signal?: AbortSignal;
}

/** What a finished training run produced. */
export interface TrainAndSaveResult {
  readonly model: TrainedModel;
  readonly metrics: TestMetrics;
}

/**
 * Loads the dataset, trains, saves the checkpoint, evaluates on the test split and records the model.
 * The row exists from the start (status "training") so its id names the checkpoint folder; a failure
 * marks it "failed" with the reason and rethrows.
 */
export async function trainAndSave(options: TrainAndSaveOptions): Promise<TrainAndSaveResult> {
  const { dataSource, modelsDir } = options;
  const variant = parseVariant(options.variant);
  const config = resolveVcmConfig({ ...(options.config ?? {}), variant });
  // Before any work: a folder that cannot take the checkpoint would otherwise fail after the last epoch.
  await assertWritableFolder(modelsDir);
  options.onPhase?.("loading", undefined);
  const matrices = await loadDatasetMatrices(dataSource, options.datasetName);
  const fingerprint = datasetFingerprint(matrices);
  const backend = await initBackend();
  const repo = dataSource.getRepository(TrainedModel);
  const row = await repo.save(
    repo.create({
      datasetId: matrices.datasetId,
      variant,
      config: { ...config },
      backend,
      device: currentDevice(),
      status: "training",
      error: null,
      bestEpoch: 0,
      secondsPerEpoch: null,
      testMetrics: null,
      history: [],
      checkpointPath: null,
      datasetFingerprint: fingerprint,
    }),
  );
  let model: VcmModel | undefined;
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
    });
    options.onPhase?.("saving", row.id);
    const dataset: DatasetReference = { id: matrices.datasetId, name: matrices.name, fingerprint };
    await saveCheckpoint({ dir, snapshot: await model.snapshot(), dataset, extra: { modelId: row.id } });
    savedDir = dir;
    options.signal?.throwIfAborted();
    options.onPhase?.("evaluating", row.id);
    const metrics: TestMetrics = {
      vcm: metricMap(await evaluateOnTest({ model, matrices, mode: "vcm" })),
      ...(hasTextModel(variant) ? { "vcm-cd": metricMap(await evaluateOnTest({ model, matrices, mode: "vcm-cd" })) } : {}),
    };
    const history = [...model.history];
    // A cancel that arrived while saving or evaluating still wins: the model is not published.
    options.signal?.throwIfAborted();
    const ready = {
      status: "ready" as const,
      backend: model.backend,
      device: model.device,
      bestEpoch: model.bestEpoch,
      secondsPerEpoch: history.length === 0 ? null : history.reduce((s, h) => s + h.seconds, 0) / history.length,
      testMetrics: metrics,
      history,
      checkpointPath: dir,
    };
    // Only a row still "training" becomes ready: a server that saw this job's lease run out has failed it.
    const published = await repo.update({ id: row.id, status: "training" }, ready);
    if ((published.affected ?? 0) !== 1) {
      throw new UserError(ErrorCode.CONFLICT, `Model ${row.id} was marked failed while it trained (its server stopped renewing the job); train it again.`);
    }
    Object.assign(row, ready);
    return { model: row, metrics };
  } catch (error) {
    const reason = error instanceof UserError ? error.message : error instanceof Error && error.name === "AbortError" ? "Training was cancelled." : "Training failed with an internal error.";
    await repo.update({ id: row.id, status: "training" }, { status: "failed", error: reason });
    // A failed model is never loaded, so its checkpoint (if it got that far) would only be litter.
    if (savedDir !== undefined) await fs.rm(savedDir, { recursive: true, force: true });
    throw error;
  } finally {
    model?.dispose();
  }
}

/** The row of a model by id; NOT_FOUND names the way to list them. */
export async function findModelRow(dataSource: DataSource, modelId: number): Promise<TrainedModel> {
  if (!Number.isInteger(modelId) || modelId <= 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `A model id is a positive integer, got ${JSON.stringify(modelId)}.`);
  }
  const row = await dataSource.getRepository(TrainedModel).findOne({ where: { id: modelId }, relations: { dataset: true } });
  if (row === null) {
    throw new UserError(ErrorCode.NOT_FOUND, `There is no model ${modelId}; list the trained models with \`vcm models\`.`);
  }
  return row;
}

/** Refuses a model that is still training or failed; returns its checkpoint folder. */
function assertReady(row: TrainedModel): string {
  if (row.status !== "ready" || row.checkpointPath === null) {
    const why = row.status === "failed" ? `its training failed (${row.error ?? "no reason recorded"})` : "it is still training";
    throw new UserError(ErrorCode.MODEL_NOT_READY, `Model ${row.id} cannot be used: ${why}.`);
  }
  return row.checkpointPath;
}

/** A saved model ready to predict, with its row and checkpoint manifest. */
export interface LoadedTrainedModel {
  readonly modelId: number;
  readonly datasetName: string;
  readonly variant: Variant;
  readonly model: VcmModel;
  readonly row: TrainedModel;
  readonly manifest: CheckpointManifest;
}

/** Rebuilds a saved model from its checkpoint on the current backend (the caller disposes `model`). */
export async function loadModel(options: { dataSource: DataSource; modelId: number }): Promise<LoadedTrainedModel> {
  const row = await findModelRow(options.dataSource, options.modelId);
  const checkpointPath = assertReady(row);
  // Answers may reach API clients: the model is named, never its folder.
  const { snapshot, manifest } = await loadCheckpoint(checkpointPath, { name: `model ${row.id}` });
  const otherModel = manifest.extra.modelId !== undefined && manifest.extra.modelId !== row.id;
  const otherData = manifest.dataset !== null && row.datasetFingerprint !== null && manifest.dataset.fingerprint !== row.datasetFingerprint;
  if (otherModel || otherData) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `The checkpoint of model ${row.id} belongs to another model; train the model again.`);
  }
  await initBackend();
  const model = VcmModel.fromSnapshot(snapshot);
  return { modelId: row.id, datasetName: row.dataset.name, variant: snapshot.variant, model, row, manifest };
}

/** Refuses a dataset whose users, items or words changed since the model was trained on it. */
function checkSameDataset(row: TrainedModel, matrices: DatasetMatrices): void {
  if (row.datasetFingerprint !== null && datasetFingerprint(matrices) !== row.datasetFingerprint) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Dataset "${matrices.name}" changed since model ${row.id} was trained on it (other users, items or words); train the model again.`,
    );
  }
}

/** BAD_USER_INPUT when a saved model cannot be evaluated in the mode asked for (vcm-cd needs a text model). */
function assertModeFits(row: TrainedModel, mode: PredictionMode): void {
  if (mode === "vcm-cd" && !hasTextModel(row.variant as Variant)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${row.id} is the popularity baseline, which has no text model and so no vcm-cd mode; use --mode vcm.`);
  }
}

/** Evaluates one saved model on already loaded matrices of its dataset. */
async function evaluateWith(options: {
  dataSource: DataSource;
  row: TrainedModel;
  matrices: DatasetMatrices;
  mode: PredictionMode;
}): Promise<ModelEvaluation> {
  const { row, matrices, mode } = options;
  assertModeFits(row, mode);
  checkSameDataset(row, matrices);
  const loaded = await loadModel({ dataSource: options.dataSource, modelId: row.id });
  try {
    const ranking = await evaluateOnTest({ model: loaded.model, matrices, mode });
    return {
      modelId: row.id,
      datasetName: matrices.name,
      variant: loaded.variant,
      mode,
      users: countDefined(ranking.perUser["ndcg@10"]),
      metrics: metricMap(ranking),
      ranking,
    };
  } finally {
    loaded.model.dispose();
  }
}

/** Re-evaluates a saved model on its dataset's test split. */
export async function evaluateSavedModel(options: {
  dataSource: DataSource;
  modelId: number;
  mode?: PredictionMode | string;
}): Promise<ModelEvaluation> {
  const mode = parseMode(options.mode ?? "vcm");
  const row = await findModelRow(options.dataSource, options.modelId);
  assertModeFits(row, mode);
  assertReady(row);
  const matrices = await loadDatasetMatrices(options.dataSource, row.datasetId);
  return evaluateWith({ dataSource: options.dataSource, row, matrices, mode });
}

/** Two models compared on one metric over the same users. */
export interface ModelComparison extends PairedComparison {
  readonly metric: string;
  readonly modelA: { readonly id: number; readonly variant: Variant; readonly mode: PredictionMode };
  readonly modelB: { readonly id: number; readonly variant: Variant; readonly mode: PredictionMode };
  readonly datasetName: string;
}

/**
 * Evaluates two models of the same dataset on its test split and runs the paper's paired t-test on a
 * metric over the users that have held-out items under both.
 */
export async function compareModels(options: {
  dataSource: DataSource;
  modelA: number;
  modelB: number;
  metric?: string;
  modeA?: PredictionMode | string;
  modeB?: PredictionMode | string;
}): Promise<ModelComparison> {
  const metric = parseMetric(options.metric ?? "ndcg@10");
  const [rowA, rowB] = [await findModelRow(options.dataSource, options.modelA), await findModelRow(options.dataSource, options.modelB)];
  if (rowA.datasetId !== rowB.datasetId) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Models ${rowA.id} and ${rowB.id} were trained on different datasets ("${rowA.dataset.name}" and "${rowB.dataset.name}"); a paired test needs the same users.`,
    );
  }
  const [modeA, modeB] = [parseMode(options.modeA ?? "vcm"), parseMode(options.modeB ?? "vcm")];
  assertReady(rowA);
  assertReady(rowB);
  const matrices = await loadDatasetMatrices(options.dataSource, rowA.datasetId);
  const a = await evaluateWith({ dataSource: options.dataSource, row: rowA, matrices, mode: modeA });
  const b = await evaluateWith({ dataSource: options.dataSource, row: rowB, matrices, mode: modeB });
  const test = pairedTTest({ a: a.ranking.perUser[metric], b: b.ranking.perUser[metric] });
  return {
    ...test,
    metric,
    modelA: { id: a.modelId, variant: a.variant, mode: a.mode },
    modelB: { id: b.modelId, variant: b.variant, mode: b.mode },
    datasetName: a.datasetName,
  };
}

/** Trained models, oldest first, optionally of one dataset (by name). */
export async function listModels(options: { dataSource: DataSource; datasetName?: string }): Promise<TrainedModel[]> {
  const repo = options.dataSource.getRepository(TrainedModel);
  if (options.datasetName === undefined) return repo.find({ relations: { dataset: true }, order: { id: "ASC" } });
  const dataset = findDatasetRef(options.dataSource, options.datasetName);
  return repo.find({ where: { datasetId: dataset.id }, relations: { dataset: true }, order: { id: "ASC" } });
}
