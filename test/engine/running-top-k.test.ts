/**
 * Scoring in item blocks (engine/running-top-k.ts): the running top k equals topK over the whole row
 * (ties, NaN and exclusions included) for every block size, and a real model ranks the same items,
 * with the same scores, in one block (today's path) and in many.
 */
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { resolveVcmConfig } from "../../src/engine/config.ts";
import { topK } from "../../src/engine/metrics.ts";
import { trainModel } from "../../src/engine/models/index.ts";
import { initBackend, sliceColumns } from "../../src/engine/runtime/index.ts";
import { blockItemsFor, ITEM_BLOCK_ITEMS, itemBlocks, RunningTopK, SCORING_PASS_NUMBERS } from "../../src/engine/running-top-k.ts";
import { plantedData } from "./planted.ts";

/** A row of n scores drawn from few values (so ties abound), with some NaN. */
function tiedScores(n: number, seed: number): Float32Array {
  let state = seed;
  const next = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  return Float32Array.from({ length: n }, () => (next() < 0.05 ? Number.NaN : Math.floor(next() * 7) / 4));
}

describe("running top k over item blocks", () => {
  it("equals topK over the whole row, ties by lower index, NaN and excluded items left out, for every block size and k", () => {
    for (const seed of [1, 2, 3]) {
      const scores = tiedScores(203, seed);
      const exclude = Int32Array.from([0, 5, 31, 32, 33, 100, 150, 202]);
      for (const k of [1, 5, 20, 128, 129, 300]) {
        const whole = topK({ scores, k, exclude });
        const plain = topK({ scores, k });
        for (const size of [1, 7, 32, 64, 203, 1_000]) {
          const running = new RunningTopK({ rows: 2, k });
          for (const { start, end } of itemBlocks(scores.length, size)) {
            running.offer({ row: 0, scores: scores.subarray(start, end), offset: start, exclude });
            running.offer({ row: 1, scores: scores.subarray(start, end), offset: start });
          }
          const kept = Math.min(k, whole.length);
          expect(Array.from(running.items.subarray(0, kept)), `k ${k}, block ${size}`).toEqual(Array.from(whole));
          expect(Array.from(running.items.subarray(kept, k)).every((i) => i === -1)).toBe(true);
          expect(Array.from(running.items.subarray(k, k + Math.min(k, plain.length)))).toEqual(Array.from(plain));
        }
      }
    }
  });

  it("combines the blocks' log-sum-exps into the whole row's", () => {
    const scores = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i) * 300);
    const lse = (values: ArrayLike<number>): number => {
      const max = Math.max(...Array.from(values));
      return max + Math.log(Array.from(values).reduce((sum, s) => sum + Math.exp(s - max), 0));
    };
    const running = new RunningTopK({ rows: 1, k: 3 });
    for (const { start, end } of itemBlocks(50, 8)) {
      const block = scores.subarray(start, end);
      running.offer({ row: 0, scores: block, offset: start, exclude: Int32Array.from([1]), logSumExp: lse(block) });
    }
    expect(running.logSumExp(0)).toBeCloseTo(lse(scores), 10);
  });

  it("sizes blocks to the pass: ITEM_BLOCK_ITEMS at 512 rows, larger for fewer rows, so one user ranks 200,000 items in one block", () => {
    expect(blockItemsFor(512)).toBe(ITEM_BLOCK_ITEMS);
    expect(blockItemsFor(2_048)).toBe(ITEM_BLOCK_ITEMS);
    expect(blockItemsFor(1)).toBe(SCORING_PASS_NUMBERS);
    expect(itemBlocks(200_000, blockItemsFor(25))).toHaveLength(1);
    expect(itemBlocks(200_000, blockItemsFor(512))).toHaveLength(7);
  });

  it("splits a catalogue into blocks of ITEM_BLOCK_ITEMS, so every paper shape (24,628 items at most) is one block", () => {
    expect(itemBlocks(24_628)).toEqual([{ start: 0, end: 24_628 }]);
    expect(itemBlocks(200_000).length).toBe(Math.ceil(200_000 / ITEM_BLOCK_ITEMS));
    expect(itemBlocks(200_000).at(-1)).toEqual({ start: 6 * ITEM_BLOCK_ITEMS, end: 200_000 });
    expect(itemBlocks(10, 4)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 },
    ]);
  });

  it("slices a block of the output layer's columns on the heap as tf.slice does, without reading the whole layer", async () => {
    await initBackend();
    const w = tf.tensor2d(Float32Array.from({ length: 6 * 50 }, (_, i) => Math.sin(i) * 3), [6, 50]);
    for (const [start, width] of [[0, 50], [0, 7], [13, 20], [49, 1]]) {
      const ours = sliceColumns(w, start, width);
      const stock = tf.slice(w, [0, start], [6, width]);
      expect(ours.shape).toEqual([6, width]);
      expect(Array.from(await ours.data())).toEqual(Array.from(await stock.data()));
      tf.dispose([ours, stock]);
    }
    w.dispose();
  });

  it("ranks a trained VCM model's items in blocks as the full sort of its scores does, with the same scores", async () => {
    await initBackend();
    const data = plantedData({ users: 80, items: 61, vocab: 40, groups: 3, seed: 4 });
    const config = resolveVcmConfig({ latentDim: 4, hiddenX: 16, hiddenY: 12, epochs: 2, batchSize: 40, evalBatchSize: 32 });
    const model = await trainModel({ train: data.train, validation: data.validation, words: data.words, config });
    try {
      const rows = Array.from({ length: 80 }, (_, r) => r);
      const input = { matrix: data.train, rows };
      const k = 20;
      const tensors = tf.memory().numTensors;
      const scores = await model.scoreItems(input, "vcm");
      const fullSort = rows.map((r) => Array.from(topK({ scores: scores.subarray(r * 61, (r + 1) * 61), k, exclude: data.train.indices.subarray(data.train.indptr[r], data.train.indptr[r + 1]) })));
      const oneBlock = await model.topItems({ input, mode: "vcm", k, exclude: data.train });
      for (const blockItems of [7, 16, 60]) {
        const blocked = await model.topItems({ input, mode: "vcm", k, exclude: data.train, blockItems });
        expect(Array.from(blocked), `block ${blockItems}`).toEqual(Array.from(oneBlock));
        const ranked = await model.rankItems({ input, mode: "vcm", k, exclude: data.train, blockItems });
        expect(Array.from(ranked.items), `block ${blockItems}`).toEqual(Array.from(oneBlock));
        rows.forEach((r) => {
          for (let j = 0; j < k; j += 1) expect(ranked.scores[r * k + j]).toBeCloseTo(scores[r * 61 + ranked.items[r * k + j]], 6);
        });
      }
      // The evaluation ranking (logits) and the full sort of the probabilities agree item for item here.
      expect(rows.map((r) => Array.from(oneBlock.subarray(r * k, (r + 1) * k)))).toEqual(fullSort);
      // One block is today's path: the probabilities of scoreItems, bit for bit.
      const today = await model.rankItems({ input, mode: "vcm", k });
      rows.forEach((r) => {
        const expected = topK({ scores: scores.subarray(r * 61, (r + 1) * 61), k });
        expect(Array.from(today.items.subarray(r * k, (r + 1) * k))).toEqual(Array.from(expected));
        expect(Array.from(today.scores.subarray(r * k, (r + 1) * k))).toEqual(Array.from(expected, (i) => scores[r * 61 + i]));
      });
      expect(tf.memory().numTensors).toBe(tensors);
    } finally {
      model.dispose();
    }
  });
});
