/**
 * What a server does with the models folder at start, so that after any kill the database and the
 * folder agree: folders whose rows were deleted are removed (file-removals.ts), a checkpoint saved by
 * a run that was killed before publishing it (its row failed) is removed, as are half-written
 * checkpoints of dead processes, and a ready model whose checkpoint is missing is marked failed with a
 * sentence instead of failing each query.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { DataSource } from "typeorm";
import { hasStoredCheckpoint } from "../db/checkpoint-store.ts";
import { drainFileRemovals } from "../db/file-removals.ts";
import { failedModelFingerprints, failModel, readyModelCheckpoints } from "../db/model-rows.ts";
import { pathExists, readManifest } from "../engine/checkpoint.ts";
import { processIsAlive } from "../processes.ts";
import { checkpointDir } from "./saved-models.ts";

/** Sentence recorded on a ready model whose checkpoint folder is gone. */
export const MISSING_CHECKPOINT_MESSAGE = "Its checkpoint folder is missing from the models folder; train it again, or delete it.";

/** A checkpoint being written: `model-N.tmp-PID-RANDOM` (engine/checkpoint.ts saveCheckpoint). */
const PARTIAL_CHECKPOINT = /^model-\d+\.tmp-(\d+)-[0-9a-f]{8}$/;

/** What tidyModelsAtStart did. */
export interface TidyReport {
  /** Folders of deleted rows whose removal a kill had interrupted. */
  readonly removedFolders: number;
  /** Checkpoints of failed models (saved, never published) and half-written ones of dead processes. */
  readonly removedLeftovers: number;
  /** Ready models without a checkpoint, now failed. */
  readonly failedModels: number[];
}

/** Brings the models folder and the model rows back into agreement (see the file's comment). */
export async function tidyModelsAtStart(options: { dataSource: DataSource; modelsDir: string }): Promise<TidyReport> {
  const { dataSource, modelsDir } = options;
  const removedFolders = await drainFileRemovals(dataSource);
  const ready = await readyModelCheckpoints(dataSource);
  const failedModels: number[] = [];
  for (const row of ready) {
    if (row.checkpointPath !== null && (await pathExists(row.checkpointPath))) continue;
    // On PostgreSQL the database keeps a copy: a model another server trained is fetched when first used.
    if (await hasStoredCheckpoint(dataSource, row.id)) continue;
    if (await failModel(dataSource, { modelId: row.id, from: "ready", error: MISSING_CHECKPOINT_MESSAGE })) failedModels.push(row.id);
  }
  let removedLeftovers = 0;
  const failed = await failedModelFingerprints(dataSource);
  for (const row of failed) {
    const dir = checkpointDir(modelsDir, row.id);
    if (!(await pathExists(dir))) continue;
    // Only a checkpoint that names this model and its dataset version: the folder may hold another database's.
    const manifest = await readManifest(dir, { name: `model ${row.id}` }).catch(() => null);
    if (manifest === null || manifest.extra.modelId !== row.id) continue;
    if (row.datasetFingerprint !== null && manifest.dataset?.fingerprint !== row.datasetFingerprint) continue;
    await fs.rm(dir, { recursive: true, force: true });
    removedLeftovers += 1;
  }
  for (const name of await fs.readdir(modelsDir).catch(() => [] as string[])) {
    const pid = PARTIAL_CHECKPOINT.exec(name)?.[1];
    if (pid === undefined || processIsAlive(Number(pid))) continue;
    await fs.rm(path.join(modelsDir, name), { recursive: true, force: true });
    removedLeftovers += 1;
  }
  return { removedFolders, removedLeftovers, failedModels };
}
