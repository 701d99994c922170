/**
 * Saved models: their checkpoint folders, the fingerprint that ties one to its dataset's version,
 * and finding, loading and listing them.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import type { CsrMatrix, DatasetMatrices } from "../data/csr.ts";
import { checkpointsLiveInDatabase, fetchCheckpoint } from "../db/checkpoint-store.ts";
import type { TrainedModel } from "../db/entities/trained-model.entity.ts";
import { findDatasetRef } from "../db/load-dataset-matrices.ts";
import { findModelWithDataset, modelsWithDatasets } from "../db/model-rows.ts";
import { initBackend, trainingMemoryLimit } from "../engine/runtime/index.ts";
import { resolveStoredVcmConfig } from "../engine/config.ts";
import { inferenceRefusal } from "../engine/memory.ts";
import { loadCheckpoint, pathExists, type CheckpointManifest } from "../engine/checkpoint.ts";
import { recommenderFromSnapshot, type Recommender } from "../engine/models/index.ts";
import { isVcmVariant, type ModelSnapshot, type Variant } from "../engine/types.ts";
import { usesApproximateRetrieval, type RetrievalMode } from "../engine/retrieval/retrieval-mode.ts";
import { ErrorCode, UserError } from "../errors.ts";

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

/** The row of a model by id; NOT_FOUND names the way to list them. */
export async function findModelRow(dataSource: DataSource, modelId: number): Promise<TrainedModel> {
  if (!Number.isInteger(modelId) || modelId <= 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `A model id is a positive integer, got ${JSON.stringify(modelId)}.`);
  }
  const row = await findModelWithDataset(dataSource, modelId);
  if (row === null) {
    throw new UserError(ErrorCode.NOT_FOUND, `There is no model ${modelId}; list the trained models with \`vcm models\`.`);
  }
  return row;
}

/** Refuses a model that is still training or failed; returns its checkpoint folder. */
export function assertReady(row: TrainedModel): string {
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
  readonly model: Recommender;
  readonly row: TrainedModel;
  readonly manifest: CheckpointManifest;
}

/**
 * Rebuilds a saved model from its checkpoint on the current backend (the caller disposes `model`).
 * Where the folder the row names is not on this machine and the database keeps checkpoints
 * (PostgreSQL: another server trained it), the stored copy is fetched into `modelsDir` (kept there
 * for later loads) or, without one, into a temporary folder removed after loading.
 */
export async function loadModel(options: {
  dataSource: DataSource;
  modelId: number;
  modelsDir?: string;
  /** The work, for the memory refusal's sentence ("Evaluating model 3"); "Loading model N" by default. */
  doing?: string;
  /** Bytes of the dataset's matrices the work reads beside the model (counted in the memory check). */
  inputBytes?: number;
  /** How a server will rank with it: an approximate index is counted in the memory check (exact when absent). */
  retrieval?: RetrievalMode;
}): Promise<LoadedTrainedModel> {
  await initBackend();
  const doing = options.doing ?? `Loading model ${options.modelId}`;
  const { row, snapshot, manifest } = await loadSavedSnapshot({ ...options, check: (m) => assertModelFits({ manifest: m, doing, inputBytes: options.inputBytes ?? 0, retrieval: options.retrieval ?? "exact" }) });
  const model = recommenderFromSnapshot(snapshot);
  return { modelId: row.id, datasetName: row.dataset.name, variant: snapshot.variant, model, row, manifest };
}

/**
 * Refuses (BAD_USER_INPUT, with the estimate, the limit and what to change) loading a model whose
 * weights and scoring passes would not fit the engine's memory limit (VCM_MAX_MEMORY_MB, available
 * memory, the wasm heap, a GPU's largest buffer), before its weights are read.
 */
function assertModelFits(o: { manifest: CheckpointManifest; doing: string; inputBytes: number; retrieval: RetrievalMode }): void {
  const { manifest } = o;
  const config = resolveStoredVcmConfig({ ...manifest.config, variant: manifest.variant });
  // The baselines are always ranked exactly (their logits are not one inner product per item).
  const approximateRetrieval = isVcmVariant(manifest.variant) && usesApproximateRetrieval(o.retrieval, manifest.numItems);
  const shape = { items: manifest.numItems, words: manifest.numWords, weightBytes: manifest.byteLength, inputBytes: o.inputBytes, approximateRetrieval };
  const refusal = inferenceRefusal({ shape, config, limit: trainingMemoryLimit(), doing: o.doing });
  if (refusal !== undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, refusal);
}

/**
 * A saved model's row and checkpoint as arrays (what loadModel rebuilds a model from, and what a warm
 * start continues from): NOT_FOUND for an unknown model or a missing checkpoint, MODEL_NOT_READY for
 * one still training or failed, BAD_USER_INPUT for a checkpoint of another model.
 */
export async function loadSavedSnapshot(options: {
  dataSource: DataSource;
  modelId: number;
  modelsDir?: string;
  /** Runs on the manifest before the weights are read (loadCheckpoint's check). */
  check?: (manifest: CheckpointManifest) => void;
}): Promise<{ row: TrainedModel; snapshot: ModelSnapshot; manifest: CheckpointManifest }> {
  const row = await findModelRow(options.dataSource, options.modelId);
  let loadedCheckpoint: Awaited<ReturnType<typeof loadCheckpoint>>;
  try {
    const { dir, cleanup } = await localCheckpoint({ dataSource: options.dataSource, row, checkpointPath: assertReady(row), modelsDir: options.modelsDir });
    try {
      // Answers may reach API clients: the model is named, never its folder.
      loadedCheckpoint = await loadCheckpoint(dir, { name: `model ${row.id}`, check: options.check });
    } finally {
      await cleanup();
    }
  } catch (error) {
    // A deleteModel may remove the row and its folder while they are read: then the model is simply gone.
    await findModelRow(options.dataSource, options.modelId);
    throw error;
  }
  const { snapshot, manifest } = loadedCheckpoint;
  const otherModel = manifest.extra.modelId !== undefined && manifest.extra.modelId !== row.id;
  const otherData = manifest.dataset !== null && row.datasetFingerprint !== null && manifest.dataset.fingerprint !== row.datasetFingerprint;
  if (otherModel || otherData) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `The checkpoint of model ${row.id} belongs to another model; train the model again.`);
  }
  return { row, snapshot, manifest };
}

/** Where this machine reads the model's checkpoint: the row's folder, a copy in modelsDir, or a temporary one. */
async function localCheckpoint(o: { dataSource: DataSource; row: TrainedModel; checkpointPath: string; modelsDir: string | undefined }): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const none = async (): Promise<void> => undefined;
  if (!checkpointsLiveInDatabase(o.dataSource) || (await pathExists(o.checkpointPath))) return { dir: o.checkpointPath, cleanup: none };
  if (o.modelsDir !== undefined) {
    const dir = checkpointDir(o.modelsDir, o.row.id);
    if (!(await pathExists(dir))) {
      await fs.mkdir(path.resolve(o.modelsDir), { recursive: true });
      if (!(await fetchCheckpoint(o.dataSource, { modelId: o.row.id, dir }))) return { dir: o.checkpointPath, cleanup: none };
    }
    return { dir, cleanup: none };
  }
  const temp = await fs.mkdtemp(path.join(os.tmpdir(), `vcm-model-${o.row.id}-`));
  const dir = path.join(temp, "checkpoint");
  const cleanup = async (): Promise<void> => fs.rm(temp, { recursive: true, force: true });
  if (!(await fetchCheckpoint(o.dataSource, { modelId: o.row.id, dir }))) {
    await cleanup();
    return { dir: o.checkpointPath, cleanup: none };
  }
  return { dir, cleanup };
}

/**
 * Refuses a dataset that is not the one the model was trained on or a later version of it. At the
 * model's own version the fingerprint must match; an append only adds users and items after the
 * existing ones and never grows the vocabulary, so a later version must still hold the model's rows.
 */
export function checkSameDataset(row: TrainedModel, matrices: DatasetMatrices): void {
  const sameVersion = row.datasetVersion === matrices.version;
  const fits = sameVersion
    ? row.datasetFingerprint === null || datasetFingerprint(matrices) === row.datasetFingerprint
    : matrices.version > row.datasetVersion && matrices.userIds.length >= row.userCount && matrices.itemIds.length >= row.itemCount;
  if (!fits) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Dataset "${matrices.name}" changed since model ${row.id} was trained on it (other users, items or words); train the model again.`,
    );
  }
}

/** Trained models, oldest first, optionally of one dataset (by name). */
export async function listModels(options: { dataSource: DataSource; datasetName?: string }): Promise<TrainedModel[]> {
  if (options.datasetName === undefined) return modelsWithDatasets(options.dataSource, null);
  const dataset = await findDatasetRef(options.dataSource, options.datasetName);
  return modelsWithDatasets(options.dataSource, dataset.id);
}
