/**
 * Answers from the history as it is now: when a dataset's version moves, the inference service reads
 * the new index, a model scores only the items it was trained with and reads only those columns of
 * each history, an unchanged user's answers stay exactly the training-time ones (and stay cached),
 * a changed user's move, an item clicked after training is excluded, a user added after training is
 * answered. A real trained VCM model; the appended matrices are built here (the append itself is
 * tested where it lives).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { csrFromRows, type CsrMatrix, type DatasetMatrices } from "../../src/data/csr.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { buildItemWordStats } from "../../src/engine/explanation-rules.ts";
import { DatasetIndex } from "../../src/services/dataset-index.ts";
import { InferenceService } from "../../src/services/inference.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { loadTrainedModel } from "../../src/services/prediction-services.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 10, seed: 3 };

let dir: string;
let database: TestDatabase;
let dataSource: Awaited<ReturnType<typeof openDatabase>>;
let modelId: number;
let original: DatasetMatrices;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-fold-in-"));
  database = await createTestDatabase();
  dataSource = await openDatabase(database.target);
  await ingestDataset(dataSource, { name: "d", source: syntheticSource({ users: 150, items: 120, vocab: 300, seed: 7 }) });
  modelId = (await trainAndSave({ dataSource, dataset: "d", variant: "vcm", config: SMALL, modelsDir: path.join(dir, "models") })).model.id;
  original = await loadDatasetMatrices(dataSource, "d");
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function rowsOf(m: CsrMatrix): Array<Array<[number, number]>> {
  return Array.from({ length: m.rows }, (_, r) => Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1]), (c, j): [number, number] => [c, m.values[m.indptr[r] + j]]));
}

/** The matrices after an append: one new item, clicks for `row` (an old item and the new one), and a new user. */
function appended(m: DatasetMatrices, options: { row: number; oldItem: number; newUserClicks: number[] }): DatasetMatrices {
  const cols = m.train.cols + 1;
  const train = rowsOf(m.train);
  train[options.row].push([options.oldItem, 1], [cols - 1, 1]);
  train.push(options.newUserClicks.map((c): [number, number] => [c, 1]));
  const grow = (x: CsrMatrix, width: number): CsrMatrix => csrFromRows({ cols: width, rows: [...rowsOf(x), []] });
  return {
    ...m,
    train: csrFromRows({ cols, rows: train }),
    validation: grow(m.validation, cols),
    test: grow(m.test, cols),
    words: grow(m.words, m.words.cols),
    userIds: [...m.userIds, "appended-user"],
    itemIds: [...m.itemIds, "appended-item"],
    version: m.version + 1,
  };
}

/** An inference service over matrices the test swaps, told of each version as another process's commit would. */
function serviceOver(state: { matrices: DatasetMatrices }): InferenceService {
  const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: original.vocabulary.length, rows: [] }) });
  return new InferenceService({
    loadModel: (id) => loadTrainedModel({ dataSource, modelId: id, modelsDir: path.join(dir, "models") }),
    loadDataset: async (_id, previous) =>
      new DatasetIndex({ matrices: state.matrices, stopWords: new Set(), loadItemWordStats: async () => stats, previous }),
    freshness: {
      changed: () => true,
      current: async (ids) => ({ models: new Set(ids.models), datasets: new Map(ids.datasets.map((id) => [id, state.matrices.version])) }),
    },
  });
}

describe("answers from the history as it is now", () => {
  it("keeps unchanged users' answers exactly, moves a changed user's, excludes items clicked after training and answers a new user", async () => {
    const state = { matrices: original };
    const inference = serviceOver(state);
    const numItems = original.itemIds.length;
    const changed = 3;
    const unchanged = 5;
    const clicked = (row: number) => Array.from(original.train.indices.subarray(original.train.indptr[row], original.train.indptr[row + 1]));
    const oldItem = [...Array(numItems).keys()].find((c) => !clicked(changed).includes(c))!;
    try {
      const ask = (rows: number[]) => inference.recommendMany(rows.map((row) => ({ modelId, source: "CLICKS" as const, row, k: numItems, excludeSeen: true })));
      const [beforeChanged, beforeUnchanged] = (await ask([changed, unchanged])) as Array<Array<{ item: number; score: number }>>;

      // Training-time scores of the unchanged user, straight from the model on the ingested matrices.
      const loaded = await loadTrainedModel({ dataSource, modelId, modelsDir: path.join(dir, "models") });
      const direct = await loaded.model.scoreItems({ matrix: original.train, rows: [unchanged] }, "vcm");
      loaded.model.dispose();
      for (const r of beforeUnchanged) expect(r.score).toBe(direct[r.item]);

      state.matrices = appended(original, { row: changed, oldItem, newUserClicks: [0, 1, 2, numItems] });
      const served = await inference.model(modelId);
      const scoreItems = vi.spyOn(served.model, "scoreItems");
      const [afterChanged, afterUnchanged, newUser] = (await ask([changed, unchanged, original.userIds.length])) as Array<Array<{ item: number; score: number }>>;

      expect(afterUnchanged).toEqual(beforeUnchanged);
      // One pass, over the changed and the new user only: the unchanged user's answer was kept.
      expect(scoreItems).toHaveBeenCalledTimes(1);
      expect(scoreItems.mock.calls[0][0].rows).toEqual([changed, original.userIds.length]);
      expect(scoreItems.mock.calls[0][0].matrix.cols).toBe(numItems);

      expect(afterChanged.map((r) => r.score)).not.toEqual(beforeChanged.map((r) => r.score));
      expect(afterChanged.map((r) => r.item)).not.toContain(oldItem);
      expect(afterChanged).toHaveLength(numItems - clicked(changed).length - 1);
      expect(newUser).toHaveLength(numItems - 3);
      for (const ranking of [afterChanged, newUser]) for (const r of ranking) expect(r.item).toBeLessThan(numItems);
      expect(newUser.map((r) => r.item)).not.toContain(0);
    } finally {
      inference.dispose();
    }
  });

  it("reads a history as the model knows it: clicks on items added since its training are left out", async () => {
    const index = new DatasetIndex({ matrices: appended(original, { row: 0, oldItem: 119, newUserClicks: [119, 120] }), stopWords: new Set(), loadItemWordStats: () => Promise.reject(new Error("not asked")) });
    const cut = index.clicksFor(original.itemIds.length);
    expect(cut.cols).toBe(original.itemIds.length);
    const last = cut.rows - 1;
    expect(Array.from(cut.indices.subarray(cut.indptr[last], cut.indptr[last + 1]))).toEqual([119]);
    expect(index.clicksFor(original.itemIds.length + 1)).toBe(index.matrices.train);
  });

  it("stamps rows: unchanged rows keep the previous stamp, changed and new rows get the new version, the item word statistics carry over when no words changed", async () => {
    const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: original.vocabulary.length, rows: [] }) });
    let loads = 0;
    const loadItemWordStats = async () => {
      loads += 1;
      return stats;
    };
    const v1 = new DatasetIndex({ matrices: original, stopWords: new Set(), loadItemWordStats });
    await v1.itemWordStats();
    const v2 = new DatasetIndex({ matrices: appended(original, { row: 4, oldItem: 119, newUserClicks: [1] }), stopWords: new Set(), loadItemWordStats, previous: v1 });
    expect(v2.changedRowsSince(v1)).toEqual([4, original.userIds.length]);
    expect(v2.rowKey(5)).toBe(v1.rowKey(5));
    expect(v2.rowKey(4)).not.toBe(v1.rowKey(4));
    expect(await v2.itemWordStats()).toBe(stats);
    expect(loads).toBe(1);
    expect(v2.statsStamp).toBe(1);
  });
});
