import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.ts";
import { Dataset } from "../../src/db/entities/dataset.entity.ts";
import { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import { createTestDatabase, type TestDatabase } from "./databases.ts";

describe("trained_models table", () => {
  let dir: string;
  let db: DataSource;
  let database: TestDatabase;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-tm-"));
    database = await createTestDatabase();
    db = await openDatabase(database.target);
  });
  afterEach(async () => {
    await db.destroy();
    await database.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("is created by its migration exactly as the entity describes it", async () => {
    const pending = await db.driver.createSchemaBuilder().log();
    const mine = pending.upQueries.filter((q) => q.query.includes("trained_models"));
    expect(mine.map((q) => q.query)).toEqual([]);
  });

  it("stores and reads back the JSON columns, and goes when its dataset is deleted", async () => {
    const dataset = await db.getRepository(Dataset).save(
      db.getRepository(Dataset).create({
        name: "d", source: "generated", options: {}, userCount: 1, itemCount: 1, clickCount: 1,
        trainClickCount: 1, validationClickCount: 0, testClickCount: 0, reviewCount: 0, vocabularySize: 1,
        sparsity: 0, skipped: {},
      }),
    );
    const repo = db.getRepository(TrainedModel);
    const saved = await repo.save(
      repo.create({
        datasetId: dataset.id, variant: "vcm", config: { latentDim: 4 }, backend: "wasm", status: "ready",
        error: null, bestEpoch: 2, secondsPerEpoch: 1.5,
        testMetrics: { vcm: { "ndcg@10": 0.25 }, "vcm-cd": { "ndcg@10": 0.125 } },
        history: [], checkpointPath: "/tmp/x", datasetFingerprint: "f",
      }),
    );
    const back = await repo.findOneByOrFail({ id: saved.id });
    expect(back.testMetrics).toEqual({ vcm: { "ndcg@10": 0.25 }, "vcm-cd": { "ndcg@10": 0.125 } });
    expect(back.config).toEqual({ latentDim: 4 });
    expect(back.createdAt).toBeInstanceOf(Date);
    await db.getRepository(Dataset).delete({ id: dataset.id });
    expect(await repo.count()).toBe(0);
  });
});
