/**
 * The one owner of a trained model row's life: created "training" (its id names the checkpoint
 * folder), then either published "ready" or failed with a sentence, and finally removed with its
 * folder. Every change of state is conditional on the state it leaves, so two processes (a training
 * worker, a server that saw the job's owner die, a start-up check) can never undo each other. The
 * reads of model rows that services need (by id, by dataset, by state) are here too.
 */
import type { DataSource, EntityManager } from "typeorm";
import { TrainedModel, type TrainedModelStatus } from "./entities/trained-model.entity.ts";
import { drainFileRemovals, queueFileRemovals } from "./file-removals.ts";

/** What a new row records before training starts. */
export type NewModelFields = Pick<TrainedModel, "datasetId" | "variant" | "config" | "backend" | "device" | "datasetFingerprint" | "datasetVersion" | "userCount" | "itemCount"> & Partial<Pick<TrainedModel, "fromModelId">>;

/** What a finished training run records when it publishes the model. */
export type ReadyModelFields = Pick<TrainedModel, "backend" | "device" | "bestEpoch" | "secondsPerEpoch" | "testMetrics" | "history" | "checkpointPath">;

/** Inserts the row of a model about to train. */
export async function createTrainingModel(dataSource: DataSource, fields: NewModelFields): Promise<TrainedModel> {
  const repository = dataSource.getRepository(TrainedModel);
  return repository.save(
    repository.create({ fromModelId: null, ...fields, status: "training", error: null, bestEpoch: 0, secondsPerEpoch: null, testMetrics: null, history: [], checkpointPath: null }),
  );
}

/** Makes a training model ready; false when it is not training any more (another process failed it). */
export async function publishReadyModel(dataSource: DataSource, modelId: number, fields: ReadyModelFields): Promise<boolean> {
  const result = await dataSource.getRepository(TrainedModel).update({ id: modelId, status: "training" }, { ...fields, status: "ready", error: null });
  return (result.affected ?? 0) === 1;
}

/** Fails a model that is still in state `from`, with the reason; false when it was not (nothing changes). */
export async function failModel(db: DataSource | EntityManager, o: { modelId: number; from: TrainedModelStatus; error: string }): Promise<boolean> {
  const result = await db.getRepository(TrainedModel).update({ id: o.modelId, status: o.from }, { status: "failed", error: o.error });
  return (result.affected ?? 0) === 1;
}

/** The row of a model, or null. */
export async function findModel(dataSource: DataSource, modelId: number): Promise<TrainedModel | null> {
  return dataSource.getRepository(TrainedModel).findOne({ where: { id: modelId } });
}

/** The row of a model with its dataset joined (loading and evaluating name the dataset), or null. */
export async function findModelWithDataset(dataSource: DataSource, modelId: number): Promise<TrainedModel | null> {
  return dataSource.getRepository(TrainedModel).findOne({ where: { id: modelId }, relations: { dataset: true } });
}

/** Models oldest first with their datasets joined, of one dataset or (null) of all. */
export async function modelsWithDatasets(dataSource: DataSource, datasetId: number | null): Promise<TrainedModel[]> {
  const repository = dataSource.getRepository(TrainedModel);
  if (datasetId === null) return repository.find({ relations: { dataset: true }, order: { id: "ASC" } });
  return repository.find({ where: { datasetId }, relations: { dataset: true }, order: { id: "ASC" } });
}

/** How many ready models a dataset has. */
export async function countReadyModels(dataSource: DataSource, datasetId: number): Promise<number> {
  return dataSource.getRepository(TrainedModel).count({ where: { datasetId, status: "ready" } });
}

/** Every ready model's id and checkpoint folder (start-up housekeeping checks each folder is there). */
export async function readyModelCheckpoints(dataSource: DataSource): Promise<Array<Pick<TrainedModel, "id" | "checkpointPath">>> {
  return dataSource.getRepository(TrainedModel).find({ where: { status: "ready" }, select: { id: true, checkpointPath: true } });
}

/** Every failed model's id and dataset fingerprint (start-up housekeeping removes their own leftover checkpoints). */
export async function failedModelFingerprints(dataSource: DataSource): Promise<Array<Pick<TrainedModel, "id" | "datasetFingerprint">>> {
  return dataSource.getRepository(TrainedModel).find({ where: { status: "failed" }, select: { id: true, datasetFingerprint: true } });
}

/** The newest ready model of a dataset (by name), of one variant when given, or null. */
export async function latestReadyModel(dataSource: DataSource, datasetName: string, variant?: TrainedModel["variant"]): Promise<TrainedModel | null> {
  return dataSource.getRepository(TrainedModel).findOne({ where: { status: "ready", variant, dataset: { name: datasetName } }, order: { id: "DESC" } });
}

/**
 * Deletes a model row (only in one of `onlyIf`'s states, when given) with its checkpoint folder,
 * recorded for removal in the same transaction (file-removals.ts). False when there was no such row.
 */
export async function removeModelRow(options: { dataSource: DataSource; modelId: number; onlyIf?: ReadonlyArray<TrainedModelStatus> }): Promise<boolean> {
  const { dataSource, modelId } = options;
  const removed = await dataSource.transaction(async (manager) => {
    const repository = manager.getRepository(TrainedModel);
    const row = await repository.findOne({ where: { id: modelId } });
    if (row === null || (options.onlyIf !== undefined && !options.onlyIf.includes(row.status))) return false;
    await queueFileRemovals(manager, row.checkpointPath === null ? [] : [row.checkpointPath]);
    await repository.delete({ id: row.id });
    return true;
  });
  if (removed) await drainFileRemovals(dataSource);
  return removed;
}
