/**
 * The dataset index owns what the API needs of one dataset: the tokenizer and stop words it was
 * ingested with, and its item word statistics, computed once on first use.
 */
import { describe, expect, it } from "vitest";
import { csrFromRows, type DatasetMatrices } from "../../src/data/csr.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { stopWordSet } from "../../src/data/tokenizer.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { buildItemWordStats, type ItemWordStats } from "../../src/engine/explanation-rules.ts";
import { DatasetIndex, loadDatasetIndex, stopWordLanguages } from "../../src/services/dataset-index.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createTestDatabase } from "../db/databases.ts";

const empty = csrFromRows({ cols: 2, rows: [[]] });
const matrices: DatasetMatrices = {
  datasetId: 1,
  name: "tiny",
  version: 1,
  train: empty,
  validation: empty,
  test: empty,
  words: csrFromRows({ cols: 3, rows: [[]] }),
  userIds: ["u"],
  itemIds: ["a", "b"],
  vocabulary: ["sushi", "fish", "der"],
};

describe("DatasetIndex", () => {
  it("tokenises with the dataset's own stop words and looks words up by column", () => {
    const index = new DatasetIndex({ matrices, stopWords: stopWordSet(["deu"]), loadItemWordStats: () => Promise.reject(new Error("not asked")) });
    expect(index.tokenize("Der Sushi und the fish")).toEqual(["sushi", "the", "fish"]);
    expect(index.wordColumn.get("fish")).toBe(1);
  });

  it("computes the item word statistics once, shares a load in progress and asks again after a failed one", async () => {
    let loads = 0;
    const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: 3, rows: [[[0, 2]], [[1, 1]]] }) });
    const index = new DatasetIndex({
      matrices,
      stopWords: new Set(),
      loadItemWordStats: async (): Promise<ItemWordStats> => {
        loads += 1;
        if (loads === 1) throw new Error("database hiccup");
        return stats;
      },
    });
    await expect(index.itemWordStats()).rejects.toThrow("database hiccup");
    const [a, b] = await Promise.all([index.itemWordStats(), index.itemWordStats()]);
    expect(await index.itemWordStats()).toBe(stats);
    expect([a, b]).toEqual([stats, stats]);
    expect(loads).toBe(2);
  });
});

describe("stopWordLanguages", () => {
  it("reads the languages a dataset was ingested with, and falls back to the default for older options", () => {
    expect(stopWordLanguages(JSON.stringify({ stopWordLanguages: ["eng", "fra"] }))).toEqual(["eng", "fra"]);
    expect(stopWordLanguages("not json")).toEqual(["eng"]);
    expect(stopWordLanguages(JSON.stringify({ minClicks: 5 }))).toEqual(["eng"]);
  });
});

describe("loadDatasetIndex", () => {
  it("reads the stop words the dataset was ingested with and counts its review words per item", async () => {
    const database = await createTestDatabase();
    const dataSource = await openDatabase(database.target);
    try {
      const summary = await ingestDataset(dataSource, { name: "d", source: syntheticSource({ users: 60, items: 40, vocab: 100, seed: 4 }), stopWordLanguages: ["eng", "deu"] });
      const index = await loadDatasetIndex({ dataSource, datasetId: summary.datasetId, loadMatrices: (id) => loadDatasetMatrices(dataSource, id) });
      expect(index.stopWords).toEqual(stopWordSet(["eng", "deu"]));
      expect(index.tokenize("und the sushi")).toEqual(["sushi"]);
      const stats = await index.itemWordStats();
      expect(stats.itemWords.rows).toBe(summary.items);
      expect(stats.itemWords.cols).toBe(index.matrices.vocabulary.length);
      expect(stats.itemTotals.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(await index.itemWordStats()).toBe(stats);
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  });
});
