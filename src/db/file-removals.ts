/**
 * Model rows and their checkpoint folders go together: a row is deleted in the same transaction that
 * records its folder in pending_file_removals, and the folder is deleted after the commit. A process
 * killed in between leaves the line, and the next drain (at every server start) finishes the job, so
 * no folder outlives its row and no row points at a deleted folder.
 */
import fs from "node:fs/promises";
import type { DataSource, EntityManager } from "typeorm";
import { PendingFileRemoval } from "./entities/pending-file-removal.entity.ts";

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
