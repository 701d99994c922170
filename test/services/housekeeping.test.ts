/**
 * After a kill, the models folder and the database agree again at the next server start (issue 8,
 * item 5): folders whose rows were deleted (a removal recorded in the same transaction but never
 * carried out) are removed, and a ready model whose checkpoint is gone becomes failed with a sentence.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadAppConfig } from "../../src/config.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { PendingFileRemoval } from "../../src/db/entities/pending-file-removal.entity.ts";
import { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import { MISSING_CHECKPOINT_MESSAGE, tidyModelsAtStart } from "../../src/services/housekeeping.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createServer, createServerDeps } from "../../src/server.ts";
import { CollectingLogger, insertTrainedModel } from "../graphql/api-fixture.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function setUp() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-housekeeping-"));
  dirs.push(dir);
  const dbPath = path.join(dir, "vcm.sqlite");
  const dataSource = await openDatabase(dbPath);
  const summary = await ingestDataset(dataSource, { name: "tiny", source: syntheticSource({ users: 60, items: 50, vocab: 120, seed: 3 }) });
  const modelsDir = path.join(dir, "models");
  const folder = (id: number) => {
    const p = path.join(modelsDir, `model-${id}`);
    fs.mkdirSync(p, { recursive: true });
    fs.writeFileSync(path.join(p, "weights.bin"), "x");
    return p;
  };
  return { dir, dbPath, dataSource, datasetId: summary.datasetId, modelsDir, folder };
}

describe("models folder housekeeping", () => {
  it("finishes a removal that a kill interrupted, and fails a ready model whose checkpoint is gone, at server start", async () => {
    const { dbPath, dataSource, datasetId, modelsDir, folder } = await setUp();
    // What a process killed right after committing a model's deletion leaves: the line, and the folder.
    const orphan = folder(41);
    await dataSource.getRepository(PendingFileRemoval).insert({ path: orphan });
    const kept = await insertTrainedModel(dataSource, { datasetId, checkpointPath: folder(2) });
    const lost = await insertTrainedModel(dataSource, { datasetId, checkpointPath: path.join(modelsDir, "model-3") });

    const config = loadAppConfig({ dbPath, modelsDir }, {});
    const server = await createServer(createServerDeps({ dataSource, config, logger: new CollectingLogger() }));
    try {
      expect(fs.existsSync(orphan)).toBe(false);
      expect(await dataSource.getRepository(PendingFileRemoval).count()).toBe(0);
      const rows = dataSource.getRepository(TrainedModel);
      expect(await rows.findOneByOrFail({ id: kept.id })).toMatchObject({ status: "ready", error: null });
      expect(await rows.findOneByOrFail({ id: lost.id })).toMatchObject({ status: "failed", error: MISSING_CHECKPOINT_MESSAGE });
      const answer = await server.execute({ query: `{ model(id: ${lost.id}) { status error } }` });
      expect(answer.data).toEqual({ model: { status: "FAILED", error: MISSING_CHECKPOINT_MESSAGE } });
    } finally {
      await server.stop();
      await dataSource.destroy();
    }
  });

  it("removes the checkpoint of a run killed before it was published, and half-written checkpoints of dead processes, but not another database's folder", async () => {
    const { dataSource, modelsDir } = await setUp();
    // A real checkpoint, then its row failed as a kill between saving and publishing leaves it.
    const { model } = await trainAndSave({ dataSource, dataset: "tiny", variant: "popularity", modelsDir });
    const saved = model.checkpointPath!;
    await dataSource.getRepository(TrainedModel).update({ id: model.id }, { status: "failed", error: "killed" });
    // A folder named like a failed model of ours but written by another database's model.
    const foreign = await insertTrainedModel(dataSource, { datasetId: model.datasetId, status: "failed", error: "x" });
    const foreignDir = path.join(modelsDir, `model-${foreign.id}`);
    fs.cpSync(saved, foreignDir, { recursive: true });
    // A half-written checkpoint of a process that is gone, and one of this (live) process.
    const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
    const partialDead = path.join(modelsDir, `model-77.tmp-${dead}-0a1b2c3d`);
    const partialLive = path.join(modelsDir, `model-78.tmp-${process.pid}-0a1b2c3d`);
    for (const dir of [partialDead, partialLive]) fs.mkdirSync(dir, { recursive: true });

    const report = await tidyModelsAtStart({ dataSource, modelsDir });
    try {
      expect(report.removedLeftovers).toBe(2);
      expect(fs.existsSync(saved)).toBe(false);
      expect(fs.existsSync(partialDead)).toBe(false);
      expect(fs.existsSync(foreignDir)).toBe(true);
      expect(fs.existsSync(partialLive)).toBe(true);
    } finally {
      await dataSource.destroy();
    }
  });

  it("records the folders of a replaced dataset's models with the deletion, and removes them after the commit", async () => {
    const { dataSource, datasetId, folder } = await setUp();
    const checkpoint = folder(7);
    const model = await insertTrainedModel(dataSource, { datasetId, checkpointPath: checkpoint });
    const summary = await ingestDataset(dataSource, { name: "tiny", replace: true, source: syntheticSource({ users: 60, items: 50, vocab: 120, seed: 4 }) });
    try {
      expect(summary.removedModels).toBe(1);
      expect(await dataSource.getRepository(TrainedModel).findOneBy({ id: model.id })).toBeNull();
      expect(fs.existsSync(checkpoint)).toBe(false);
      expect(await dataSource.getRepository(PendingFileRemoval).count()).toBe(0);
    } finally {
      await dataSource.destroy();
    }
  });
});
