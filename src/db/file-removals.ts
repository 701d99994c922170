/**
 * Model rows and their checkpoint folders go together: a row is deleted in the same transaction that
 * records its folder in pending_file_removals, and the folder is deleted after the commit. A process
 * killed in between leaves the line, and the next drain (at every server start) finishes the job, so
 * no folder outlives its row and no row points at a deleted folder.
 */
import fs from "node:fs/promises";
import type { DataSource, EntityManager } from "typeorm";
import { PendingFileRemoval } from "./entities/pending-file-removal.entity.ts";
import { TrainedModel, type TrainedModelStatus } from "./entities/trained-model.entity.ts";

/** Records folders to delete after the surrounding transaction commits. */
export async function queueFileRemovals(manager: EntityManager, paths: ReadonlyArray<string>): Promise<void> {
  const repository = manager.getRepository(PendingFileRemoval);
  for (const path of paths) await repository.insert({ path });
}

/** Deletes every recorded folder (already-missing ones count as done), each line after its folder. */
export async function drainFileRemovals(dataSource: DataSource): Promise<number> {
  const repository = dataSource.getRepository(PendingFileRemoval);
  const pending = await repository.find({ order: { id: "ASC" } });
  for (const removal of pending) {
    await fs.rm(removal.path, { recursive: true, force: true });
    await repository.delete({ id: removal.id });
  }
  return pending.length;
}

/**
 * Deletes a model row (only in one of `onlyIf`'s states, when given) with its checkpoint folder;
 * `extraPaths` are folders the row does not name yet (a checkpoint saved before the row was ready).
 * False when there was no such row.
 */
export async function removeModelRow(options: {
  dataSource: DataSource;
  modelId: number;
  onlyIf?: ReadonlyArray<TrainedModelStatus>;
  extraPaths?: ReadonlyArray<string>;
}): Promise<boolean> {
  const { dataSource, modelId } = options;
  const removed = await dataSource.transaction(async (manager) => {
    const repository = manager.getRepository(TrainedModel);
    const row = await repository.findOne({ where: { id: modelId } });
    if (row === null || (options.onlyIf !== undefined && !options.onlyIf.includes(row.status))) return false;
    await queueFileRemovals(manager, [...(row.checkpointPath === null ? [] : [row.checkpointPath]), ...(options.extraPaths ?? [])]);
    await repository.delete({ id: row.id });
    return true;
  });
  if (removed) await drainFileRemovals(dataSource);
  return removed;
}
