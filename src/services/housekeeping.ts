/**
 * What a server does with the models folder at start, so that after any kill the database and the
 * folder agree: folders whose rows were deleted are removed (file-removals.ts), and a ready model
 * whose checkpoint is missing is marked failed with a sentence instead of failing each query.
 */
import fs from "node:fs/promises";
import type { DataSource } from "typeorm";
import { TrainedModel } from "../db/entities/trained-model.entity.ts";
import { drainFileRemovals } from "../db/file-removals.ts";
import { failModel } from "../db/model-rows.ts";

/** Sentence recorded on a ready model whose checkpoint folder is gone. */
export const MISSING_CHECKPOINT_MESSAGE = "Its checkpoint folder is missing from the models folder; train it again, or delete it.";

/** Finishes interrupted folder removals and fails ready models without checkpoints; returns what it did. */
export async function tidyModelsAtStart(dataSource: DataSource): Promise<{ removedFolders: number; failedModels: number[] }> {
  const removedFolders = await drainFileRemovals(dataSource);
  const repository = dataSource.getRepository(TrainedModel);
  const ready = await repository.find({ where: { status: "ready" }, select: { id: true, checkpointPath: true } });
  const failedModels: number[] = [];
  for (const row of ready) {
    if (row.checkpointPath !== null && (await exists(row.checkpointPath))) continue;
    if (await failModel(dataSource, { modelId: row.id, from: "ready", error: MISSING_CHECKPOINT_MESSAGE })) failedModels.push(row.id);
  }
  return { removedFolders, failedModels };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
