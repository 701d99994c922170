import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { removeStoredCheckpoint } from "../../src/db/checkpoint-store.ts";
import { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { readManifest } from "../../src/engine/checkpoint.ts";
import type { EpochRecord } from "../../src/engine/types.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { compareModels, evaluateSavedModel } from "../../src/services/model-evaluation.ts";
import { METRIC_NAMES } from "../../src/services/model-names.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";
import { listModels, loadModel } from "../../src/services/saved-models.ts";
import { trainAndSave, type TrainingPhase } from "../../src/services/training.ts";

/** A few seconds of training in total: tiny layers, two epochs. */
const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 20 };

async function userError(promise: Promise<unknown>): Promise<UserError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

describe("training service", () => {
  let dir: string;
  let modelsDir: string;
  let db: DataSource;
  let database: TestDatabase;
  let vcmId: number;
  let popularityId: number;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-train-svc-"));
    modelsDir = path.join(dir, "models");
    database = await createTestDatabase();
    db = await openDatabase(database.target);
    const shape = { users: 200, items: 150, vocab: 300, seed: 1 };
    await ingestDataset(db, { name: "tiny", source: syntheticSource(shape), preprocess: { vocabSize: 300, seed: 1 } });
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("trains, saves a checkpoint, evaluates on the test split and records the model", async () => {
    const epochs: EpochRecord[] = [];
    const phases: TrainingPhase[] = [];
    const { model, metrics } = await trainAndSave({
      dataSource: db,
      dataset: "tiny",
      variant: "vcm",
      config: SMALL,
      modelsDir,
      onEpoch: (r) => epochs.push(r),
      onPhase: (p) => phases.push(p),
    });
    vcmId = model.id;
    expect(phases).toEqual(["loading", "training", "saving", "evaluating"]);
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    const row = await db.getRepository(TrainedModel).findOneByOrFail({ id: model.id });
    expect(row).toMatchObject({ status: "ready", variant: "vcm", backend: "wasm", error: null });
    expect([1, 2]).toContain(row.bestEpoch);
    expect(row.history).toHaveLength(2);
    expect(row.secondsPerEpoch).toBeCloseTo((epochs[0].seconds + epochs[1].seconds) / 2, 6);
    expect(row.config).toMatchObject({ ...SMALL, variant: "vcm", beta: 0.4 });
    expect(Object.keys(row.testMetrics!.vcm)).toEqual(METRIC_NAMES);
    expect(Object.keys(row.testMetrics!["vcm-cd"]!)).toEqual(METRIC_NAMES);
    for (const value of [...Object.values(metrics.vcm), ...Object.values(metrics["vcm-cd"]!)]) {
      expect(value).toBeGreaterThan(0);
      expect(value).toBeLessThanOrEqual(1);
    }
    // Recall@100 with 150 items and training clicks excluded is close to 1; NDCG@10 is far from it.
    expect(metrics.vcm["recall@100"]).toBeGreaterThan(metrics.vcm["recall@10"]);

    expect(row.checkpointPath).toBe(path.join(modelsDir, `model-${model.id}`));
    const manifest = await readManifest(row.checkpointPath!);
    expect(manifest.dataset).toEqual({ id: row.datasetId, name: "tiny", fingerprint: row.datasetFingerprint });
    expect(manifest.extra).toEqual({ modelId: model.id });
    expect(manifest.bestEpoch).toBe(row.bestEpoch);
  });

  it("re-evaluates a saved model to exactly the metrics stored at training time", async () => {
    const stored = (await db.getRepository(TrainedModel).findOneByOrFail({ id: vcmId })).testMetrics!;
    const vcm = await evaluateSavedModel({ dataSource: db, modelId: vcmId });
    expect(vcm.metrics).toEqual(stored.vcm);
    expect(vcm.users).toBe(200);
    const cd = await evaluateSavedModel({ dataSource: db, modelId: vcmId, mode: "vcm-cd" });
    expect(cd.metrics).toEqual(stored["vcm-cd"]);
  });

  it("loads a model that scores like the one evaluated", async () => {
    const a = await loadModel({ dataSource: db, modelId: vcmId });
    const b = await loadModel({ dataSource: db, modelId: vcmId });
    expect(a).toMatchObject({ modelId: vcmId, datasetName: "tiny", variant: "vcm" });
    expect(a.model.numItems).toBe(150);
    const input = { matrix: (await loadDatasetMatrices(db, "tiny")).train, rows: [0, 1, 2] };
    expect(Array.from(await a.model.scoreItems(input, "vcm"))).toEqual(Array.from(await b.model.scoreItems(input, "vcm")));
    a.model.dispose();
    b.model.dispose();
  });

  it("trains the popularity floor, which has no vcm-cd mode", async () => {
    const { model, metrics } = await trainAndSave({ dataSource: db, dataset: "tiny", variant: "popularity", modelsDir });
    popularityId = model.id;
    expect(metrics["vcm-cd"]).toBeUndefined();
    expect(model.bestEpoch).toBe(0);
    expect(model.secondsPerEpoch).toBeNull();
    const error = await userError(evaluateSavedModel({ dataSource: db, modelId: popularityId, mode: "vcm-cd" }));
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.message).toMatch(/popularity baseline.*no vcm-cd/);
  });

  it("compares two models with a paired t-test over the same users", async () => {
    const stored = await db.getRepository(TrainedModel).findBy({});
    const byId = new Map(stored.map((m) => [m.id, m.testMetrics!]));
    const c = await compareModels({ dataSource: db, modelA: vcmId, modelB: popularityId, metric: "recall@20" });
    expect(c.users).toBe(200);
    expect(c.meanA).toBeCloseTo(byId.get(vcmId)!.vcm["recall@20"], 12);
    expect(c.meanB).toBeCloseTo(byId.get(popularityId)!.vcm["recall@20"], 12);
    expect(c.difference).toBeCloseTo(c.meanA - c.meanB, 12);
    expect(c.pValue).toBeGreaterThanOrEqual(0);
    expect(c.pValue).toBeLessThanOrEqual(1);
    expect(c.df).toBe(199);
    const same = await compareModels({ dataSource: db, modelA: vcmId, modelB: vcmId });
    expect(same).toMatchObject({ metric: "ndcg@10", difference: 0, pValue: 1 });
    const modes = await compareModels({ dataSource: db, modelA: vcmId, modelB: vcmId, modeB: "vcm-cd" });
    expect(modes.modelB.mode).toBe("vcm-cd");
    expect(await userError(compareModels({ dataSource: db, modelA: vcmId, modelB: popularityId, metric: "ndcg@7" }))).toMatchObject({
      code: ErrorCode.BAD_USER_INPUT,
    });
  });

  it("lists models, all or of one dataset", async () => {
    expect((await listModels({ dataSource: db })).map((m) => [m.id, m.variant, m.dataset.name])).toEqual([
      [vcmId, "vcm", "tiny"],
      [popularityId, "popularity", "tiny"],
    ]);
    expect(await listModels({ dataSource: db, datasetName: "tiny" })).toHaveLength(2);
    expect((await userError(listModels({ dataSource: db, datasetName: "nope" }))).code).toBe(ErrorCode.NOT_FOUND);
  });

  it("rejects unknown datasets, variants and models with sentences, creating no row", async () => {
    const before = await db.getRepository(TrainedModel).count();
    const noData = await userError(trainAndSave({ dataSource: db, dataset: "nope", variant: "vcm", modelsDir }));
    expect(noData.code).toBe(ErrorCode.NOT_FOUND);
    expect(noData.message).toMatch(/no dataset "nope"; known: tiny/);
    const noVariant = await userError(trainAndSave({ dataSource: db, dataset: "tiny", variant: "vcm-xx", modelsDir }));
    expect(noVariant.message).toMatch(/Unknown variant "vcm-xx"/);
    const badConfig = await userError(trainAndSave({ dataSource: db, dataset: "tiny", variant: "vcm", config: { latentDim: 0 }, modelsDir }));
    expect(badConfig.message).toMatch(/latentDim must be an integer from 1 to 1,000/);
    expect(await db.getRepository(TrainedModel).count()).toBe(before);
    expect((await userError(evaluateSavedModel({ dataSource: db, modelId: 999 }))).code).toBe(ErrorCode.NOT_FOUND);
  });

  it("refuses, before any row or epoch, a run whose memory estimate exceeds the backend's limit, with the estimate and what to change", async () => {
    const before = await db.getRepository(TrainedModel).count();
    const epochs: number[] = [];
    const started = Date.now();
    const error = await userError(
      trainAndSave({ dataSource: db, dataset: "tiny", variant: "vcm", config: SMALL, modelsDir, memoryLimit: { totalBytes: 64 * 1024, what: "a 64 KiB test limit" }, onEpoch: (r) => epochs.push(r.epoch) }),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.message).toMatch(/^Training this model needs about [\d.]+ (KiB|MiB) \([\d,]+ parameters: .*\), more than a 64 KiB test limit holds \(64 KiB\); train with a smaller batch \(batchSize, evalBatchSize\), smaller hidden sizes \(hiddenX, hiddenY\) or a sampled softmax \(--sampled-softmax N\)/);
    expect(epochs).toEqual([]);
    expect(await db.getRepository(TrainedModel).count()).toBe(before);
  });

  it("refuses, before training, to reuse a checkpoint folder left by another database", async () => {
    // The id the next model row gets (SQLite's sequence table, or PostgreSQL's sequence).
    const seq =
      database.dialect === "sqlite"
        ? ((await db.query(`SELECT seq FROM sqlite_sequence WHERE name = 'trained_models'`))[0] as { seq: number }).seq
        : ((await db.query(`SELECT last_value FROM trained_models_id_seq`))[0] as { last_value: number }).last_value;
    const otherDir = path.join(dir, "shared-models");
    await fs.mkdir(path.join(otherDir, `model-${seq + 1}`), { recursive: true });
    const epochs: number[] = [];
    const error = await userError(
      trainAndSave({ dataSource: db, dataset: "tiny", variant: "vcm", config: SMALL, modelsDir: otherDir, onEpoch: (r) => epochs.push(r.epoch) }),
    );
    expect(error.code).toBe(ErrorCode.CONFLICT);
    expect(error.message).toMatch(/left by another database/);
    expect(epochs).toEqual([]);
    expect(await db.getRepository(TrainedModel).findOneByOrFail({ id: seq + 1 })).toMatchObject({ status: "failed" });
  });

  it("marks a cancelled run failed and leaves no checkpoint", async () => {
    const controller = new AbortController();
    let id: number | undefined;
    await expect(
      trainAndSave({
        dataSource: db,
        dataset: "tiny",
        variant: "vcm",
        config: { ...SMALL, epochs: 5 },
        modelsDir,
        signal: controller.signal,
        onPhase: (_, modelId) => (id = modelId),
        onEpoch: () => controller.abort(),
      }),
    ).rejects.toThrow();
    const row = await db.getRepository(TrainedModel).findOneByOrFail({ id: id! });
    expect(row).toMatchObject({ status: "failed", error: "Training was cancelled.", checkpointPath: null });
    await expect(fs.access(path.join(modelsDir, `model-${id}`))).rejects.toThrow();
    const notReady = await userError(loadModel({ dataSource: db, modelId: id! }));
    expect(notReady.code).toBe(ErrorCode.MODEL_NOT_READY);
    expect(notReady.message).toMatch(/training failed \(Training was cancelled\.\)/);
  });

  it("honours a cancel that arrives while the checkpoint is saved: no ready model, no checkpoint left", async () => {
    const controller = new AbortController();
    let id: number | undefined;
    await expect(
      trainAndSave({
        dataSource: db,
        dataset: "tiny",
        variant: "vcm",
        config: SMALL,
        modelsDir,
        signal: controller.signal,
        onPhase: (phase, modelId) => {
          id = modelId;
          if (phase === "saving") controller.abort();
        },
      }),
    ).rejects.toMatchObject({ name: "AbortError" });
    const row = await db.getRepository(TrainedModel).findOneByOrFail({ id: id! });
    expect(row).toMatchObject({ status: "failed", error: "Training was cancelled.", checkpointPath: null });
    await expect(fs.access(path.join(modelsDir, `model-${id}`))).rejects.toThrow();
  });

  it("reports a damaged checkpoint or a changed dataset as a sentence, not a crash", async () => {
    const { model } = await trainAndSave({ dataSource: db, dataset: "tiny", variant: "vcm-se", config: { ...SMALL, epochs: 1 }, modelsDir });
    const weights = path.join(model.checkpointPath!, "weights.bin");
    const bytes = await fs.readFile(weights);
    await fs.writeFile(weights, bytes.subarray(0, bytes.length - 8));
    const damaged = await userError(evaluateSavedModel({ dataSource: db, modelId: model.id }));
    expect(damaged.code).toBe(ErrorCode.BAD_USER_INPUT);
    // The model is named, never the models folder (these sentences reach API clients).
    expect(damaged.message).toMatch(new RegExp(`^The checkpoint of model ${model.id} is truncated or corrupt`));
    expect(damaged.message).not.toContain(modelsDir);
    await fs.rm(model.checkpointPath!, { recursive: true });
    if (database.dialect === "postgres") {
      // PostgreSQL keeps a copy for every server (checkpoint-store.ts): a missing folder is fetched again,
      // intact (the truncation above was of the local file only); without that copy too, it is gone.
      (await loadModel({ dataSource: db, modelId: model.id })).model.dispose();
      await removeStoredCheckpoint(db, model.id);
    }
    const gone = await userError(loadModel({ dataSource: db, modelId: model.id }));
    expect(gone.code).toBe(ErrorCode.NOT_FOUND);
    expect(gone.message).toBe(`The checkpoint of model ${model.id} does not exist; train the model again or check VCM_MODELS_DIR.`);

    await db.getRepository(TrainedModel).update({ id: vcmId }, { datasetFingerprint: "sha256:other" });
    const changed = await userError(evaluateSavedModel({ dataSource: db, modelId: vcmId }));
    expect(changed.message).toMatch(/Dataset "tiny" changed since model \d+ was trained on it/);
    const other = await userError(loadModel({ dataSource: db, modelId: vcmId }));
    expect(other.message).toBe(`The checkpoint of model ${vcmId} belongs to another model; train the model again.`);
  });
});

describe("replacing a dataset that has trained models", () => {
  it("removes the models' rows and checkpoint folders with the old dataset, and nothing else", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-replace-models-"));
    const modelsDir = path.join(dir, "models");
    const database = await createTestDatabase();
    const db = await openDatabase(database.target);
    try {
      const shape = { users: 120, items: 100, vocab: 200, seed: 2 };
      await ingestDataset(db, { name: "old", source: syntheticSource(shape) });
      await ingestDataset(db, { name: "other", source: syntheticSource(shape) });
      const ofOld = await trainAndSave({ dataSource: db, dataset: "old", variant: "vcm", config: SMALL, modelsDir });
      const ofOther = await trainAndSave({ dataSource: db, dataset: "other", variant: "popularity", config: {}, modelsDir });
      await expect(fs.stat(ofOld.model.checkpointPath!)).resolves.toBeTruthy();

      const summary = await ingestDataset(db, { name: "old", replace: true, source: syntheticSource({ ...shape, seed: 3 }) });

      expect(summary).toMatchObject({ replaced: true, removedModels: 1 });
      await expect(fs.stat(ofOld.model.checkpointPath!)).rejects.toMatchObject({ code: "ENOENT" });
      await expect(fs.stat(ofOther.model.checkpointPath!)).resolves.toBeTruthy();
      const ids = (await listModels({ dataSource: db })).map((m) => m.id);
      expect(ids).toEqual([ofOther.model.id]);
    } finally {
      await db.destroy();
      await database.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
