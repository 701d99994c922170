/**
 * Checkpoints in PostgreSQL (issue 9): two data sources on one database stand for two servers on
 * separate machines, each with its own models folder. A model trained through A is served through B
 * with identical scores, fetched once into B's folder; a damaged stored copy is refused by its
 * checksum; a deleted model takes its stored copy with it; B's start-up housekeeping keeps a model
 * whose folder only A has.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { removeModelRow } from "../../src/db/model-rows.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { tidyModelsAtStart } from "../../src/services/housekeeping.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { checkpointDir, loadModel } from "../../src/services/saved-models.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from "../db/databases.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 20 };

if (!POSTGRES_URL) console.warn("shared-checkpoint tests skipped: set VCM_TEST_POSTGRES_URL (bash scripts/ci/postgres.sh start DIR prints one)");

describe.skipIf(!POSTGRES_URL)("checkpoints kept in PostgreSQL for every server", () => {
  let database: TestDatabase;
  let dir: string;
  let a: DataSource;
  let b: DataSource;
  let modelId: number;
  const foldersOf = { a: "", b: "" };

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-shared-ckpt-"));
    foldersOf.a = path.join(dir, "a-models");
    foldersOf.b = path.join(dir, "b-models");
    a = await openDatabase(database.target);
    b = await openDatabase(database.target);
    await ingestDataset(a, { name: "d", source: syntheticSource({ users: 120, items: 100, vocab: 200, seed: 4 }) });
    modelId = (await trainAndSave({ dataSource: a, dataset: "d", variant: "vcm", config: SMALL, modelsDir: foldersOf.a })).model.id;
  });
  afterAll(async () => {
    await a?.destroy();
    await b?.destroy();
    await database?.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("serves a model trained through A from B's own folder, with the same scores, fetched once", async () => {
    const stored = await sqlOf(b).all<{ name: string; chunks: number }>("SELECT name, chunks FROM checkpoint_files WHERE model_id = ? ORDER BY name", [modelId]);
    expect(stored).toEqual([
      { name: "manifest.json", chunks: 1 },
      { name: "weights.bin", chunks: 1 },
    ]);
    const matrices = await loadDatasetMatrices(b, "d");
    const input = { matrix: matrices.train, rows: [0, 1, 2, 3] };
    const onA = await loadModel({ dataSource: a, modelId, modelsDir: foldersOf.a });
    const scoresA = await onA.model.scoreItems(input, "vcm");
    const wordsA = await onA.model.wordDistribution(input);
    onA.model.dispose();
    // Both "servers" run on this machine: A's folder is moved away, as it would be on B's machine.
    await fs.rename(foldersOf.a, `${foldersOf.a}-on-another-machine`);
    const onB = await loadModel({ dataSource: b, modelId, modelsDir: foldersOf.b });
    try {
      expect(Array.from(await onB.model.scoreItems(input, "vcm"))).toEqual(Array.from(scoresA));
      expect(Array.from(await onB.model.wordDistribution(input))).toEqual(Array.from(wordsA));
    } finally {
      onB.model.dispose();
    }
    const fetched = checkpointDir(foldersOf.b, modelId);
    expect((await fs.readdir(fetched)).sort()).toEqual(["manifest.json", "weights.bin"]);
    const before = (await fs.stat(path.join(fetched, "weights.bin"))).mtimeMs;
    (await loadModel({ dataSource: b, modelId, modelsDir: foldersOf.b })).model.dispose();
    expect((await fs.stat(path.join(fetched, "weights.bin"))).mtimeMs).toBe(before);
    // Only the checkpoint, no half-fetched folders beside it.
    expect(await fs.readdir(foldersOf.b)).toEqual([`model-${modelId}`]);
  });

  it("loads without a models folder too (a CLI command), from a temporary copy it removes", async () => {
    const loaded = await loadModel({ dataSource: b, modelId });
    loaded.model.dispose();
    expect(loaded.row.id).toBe(modelId);
    expect((await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`vcm-model-${modelId}-`))).toEqual([]);
  });

  it("keeps, at B's start, a ready model whose folder only A has", async () => {
    await fs.rm(foldersOf.b, { recursive: true, force: true });
    const report = await tidyModelsAtStart({ dataSource: b, modelsDir: foldersOf.b });
    expect(report.failedModels).toEqual([]);
    expect(await b.getRepository(TrainedModel).findOneByOrFail({ id: modelId })).toMatchObject({ status: "ready" });
  });

  it("refuses a stored copy whose bytes do not match its checksum, leaving nothing behind", async () => {
    await sqlOf(a).run("UPDATE checkpoint_chunks SET bytes = overlay(bytes placing '\\x00'::bytea from 100 for 1) WHERE model_id = ? AND name = 'weights.bin'", [modelId]);
    // A server without the folder must fetch it, and sees the damage.
    await fs.rm(foldersOf.b, { recursive: true, force: true });
    const error = await loadModel({ dataSource: b, modelId, modelsDir: foldersOf.b }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
    expect((error as UserError).message).toBe(`The stored checkpoint of model ${modelId} is damaged (its weights.bin does not match its checksum); train the model again.`);
    expect(await fs.readdir(foldersOf.b)).toEqual([]);
  });

  it("drops the stored copy with the model's row", async () => {
    expect(await removeModelRow({ dataSource: a, modelId })).toBe(true);
    expect(await sqlOf(b).rows("SELECT COUNT(*) FROM checkpoint_chunks WHERE model_id = ?", [modelId])).toEqual([[0]]);
    expect(await sqlOf(b).rows("SELECT COUNT(*) FROM checkpoint_files WHERE model_id = ?", [modelId])).toEqual([[0]]);
  });
});
