/**
 * A served model past one item block (issue 27, item 2): ServedModel.recommend ranks 40,000 items in
 * blocks through Recommender.rankItems, keeps each request's ranking, and answers what the full sort
 * of the model's own scores gives (items, ranks and, to float rounding, scores), with and without the
 * user's training clicks.
 */
import { describe, expect, it } from "vitest";
import { csrFromRows, type DatasetMatrices } from "../../src/data/csr.ts";
import { buildItemWordStats } from "../../src/engine/explanation-rules.ts";
import { resolveVcmConfig } from "../../src/engine/config.ts";
import { topK } from "../../src/engine/metrics.ts";
import { trainModel } from "../../src/engine/models/index.ts";
import { Rng } from "../../src/engine/random.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";
import { itemBlocks } from "../../src/engine/running-top-k.ts";
import { DatasetIndex } from "../../src/services/dataset-index.ts";
import { ServedModel } from "../../src/services/served-model.ts";
import { SharedEngineCalls } from "../../src/services/shared-engine-calls.ts";
import { randomCsr } from "../../scripts/bench-train-worker.ts";

const ITEMS = 40_000;
const USERS = 40;

describe("a served model of more than one item block", () => {
  it("ranks in blocks as the full sort of its scores does, with and without the training clicks, and keeps the answers", async () => {
    await initBackend();
    expect(itemBlocks(ITEMS).length).toBeGreaterThan(1);
    const rng = new Rng(5);
    const train = randomCsr({ rows: USERS, cols: ITEMS, perRow: 12, maxValue: 1, rng });
    const words = randomCsr({ rows: USERS, cols: 50, perRow: 8, maxValue: 3, rng });
    const empty = csrFromRows({ cols: ITEMS, rows: Array.from({ length: USERS }, () => []) });
    const config = resolveVcmConfig({ latentDim: 4, hiddenX: 8, hiddenY: 8, epochs: 1, batchSize: 20 });
    const model = await trainModel({ train, validation: empty, words, config });
    const matrices: DatasetMatrices = {
      datasetId: 1,
      name: "wide",
      version: 1,
      train,
      validation: empty,
      test: empty,
      words,
      userIds: Array.from({ length: USERS }, (_, r) => `u${r}`),
      itemIds: Array.from({ length: ITEMS }, (_, c) => `i${c}`),
      vocabulary: Array.from({ length: 50 }, (_, w) => `w${w}`),
    };
    const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: 50, rows: [] }) });
    const dataset = new DatasetIndex({ matrices, stopWords: new Set(), loadItemWordStats: async () => stats });
    const served = new ServedModel({ loaded: { modelId: 1, datasetId: 1, datasetName: "wide", variant: "vcm", model }, calls: new SharedEngineCalls() });
    try {
      const requests = [
        { row: 3, k: 20, excludeSeen: true },
        { row: 3, k: 5, excludeSeen: false },
        { row: 17, k: 50, excludeSeen: true },
        { row: 3, k: 7, excludeSeen: true },
      ];
      const answers = await served.recommend({ dataset, source: "CLICKS", requests });
      const scores = await model.scoreItems({ matrix: train, rows: [3, 17] }, "vcm");
      const rowScores = (row: number): Float32Array => scores.subarray((row === 3 ? 0 : 1) * ITEMS, (row === 3 ? 1 : 2) * ITEMS);
      requests.forEach((r, i) => {
        const expected = topK({ scores: rowScores(r.row), k: r.k, exclude: r.excludeSeen ? train.indices.subarray(train.indptr[r.row], train.indptr[r.row + 1]) : undefined });
        expect(answers[i].map((a) => a.item), `request ${i}`).toEqual(Array.from(expected));
        expect(answers[i].map((a) => a.rank)).toEqual(Array.from(expected, (_, j) => j + 1));
        answers[i].forEach((a) => expect(a.score).toBeCloseTo(rowScores(r.row)[a.item], 7));
      });
      // The same question again is answered from the kept rankings, the same.
      expect(await served.recommend({ dataset, source: "CLICKS", requests })).toEqual(answers);
    } finally {
      served.dispose();
    }
  }, 120_000);
});
