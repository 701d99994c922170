import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createPredictionServices } from "../../src/services/prediction-services.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createTestDatabase } from "../db/databases.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 1, batchSize: 50, annealSteps: 20 };

describe("a dataset replaced while the server's caches hold it", () => {
  it("serves a model of the new dataset from the new matrices and word statistics, not the cached old ones", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-replaced-"));
    const database = await createTestDatabase();
    const db = await openDatabase(database.target);
    const services = createPredictionServices({
      dataSource: db,
      config: { dbPath: database.target, modelsDir: path.join(dir, "models") },
    });
    try {
      const modelsDir = path.join(dir, "models");
      await ingestDataset(db, { name: "d", source: syntheticSource({ users: 150, items: 120, vocab: 200, seed: 1 }) });
      const old = await trainAndSave({ dataSource: db, dataset: "d", variant: "vcm", config: SMALL, modelsDir });
      const before = await services.inference.modelWithDataset(old.model.id);
      const oldStats = await services.inference.itemWordStats(before.loaded.datasetId);

      // Another process (the CLI) re-ingests "d" with another shape; the old model goes with the old dataset.
      const summary = await ingestDataset(db, {
        name: "d",
        replace: true,
        source: syntheticSource({ users: 220, items: 260, vocab: 300, seed: 5 }),
      });
      const fresh = await trainAndSave({ dataSource: db, dataset: "d", variant: "vcm", config: SMALL, modelsDir });
      const after = await services.inference.modelWithDataset(fresh.model.id);

      expect(after.loaded.datasetId).toBe(summary.datasetId);
      expect(after.loaded.datasetId).not.toBe(before.loaded.datasetId);
      expect(after.dataset.matrices.itemIds.length).toBe(summary.items);
      expect(after.dataset.matrices.userIds.length).toBe(summary.users);
      expect(after.dataset.matrices.itemIds.length).not.toBe(before.dataset.matrices.itemIds.length);
      const newStats = await services.inference.itemWordStats(after.loaded.datasetId);
      expect(newStats.itemWords.rows).toBe(summary.items);
      expect(oldStats.itemWords.rows).toBe(before.dataset.matrices.itemIds.length);
    } finally {
      await services.close();
      await db.destroy();
      await database.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
