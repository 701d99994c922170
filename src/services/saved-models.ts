/**
 * Saved models: their checkpoint folders, the fingerprint that ties one to its dataset's version,
 * and finding, loading and listing them.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import type { DataSource } from "typeorm";
import type { CsrMatrix, DatasetMatrices } from "../data/csr.ts";
import { TrainedModel } from "../db/entities/trained-model.entity.ts";
import { findDatasetRef } from "../db/load-dataset-matrices.ts";
import { initBackend } from "../engine/backend.ts";
import { loadCheckpoint, type CheckpointManifest } from "../engine/checkpoint.ts";
import { VcmModel } from "../engine/model.ts";
import type { Variant } from "../engine/types.ts";
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
  const row = await dataSource.getRepository(TrainedModel).findOne({ where: { id: modelId }, relations: { dataset: true } });
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
export function checkSameDataset(row: TrainedModel, matrices: DatasetMatrices): void {
  if (row.datasetFingerprint !== null && datasetFingerprint(matrices) !== row.datasetFingerprint) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Dataset "${matrices.name}" changed since model ${row.id} was trained on it (other users, items or words); train the model again.`,
    );
  }
}

/** Trained models, oldest first, optionally of one dataset (by name). */
export async function listModels(options: { dataSource: DataSource; datasetName?: string }): Promise<TrainedModel[]> {
  const repo = options.dataSource.getRepository(TrainedModel);
  if (options.datasetName === undefined) return repo.find({ relations: { dataset: true }, order: { id: "ASC" } });
  const dataset = await findDatasetRef(options.dataSource, options.datasetName);
  return repo.find({ where: { datasetId: dataset.id }, relations: { dataset: true }, order: { id: "ASC" } });
}
