/**
 * NDCG@R and Recall@R on a 3-user × 4-item example computed by hand, through evaluateRanking with the
 * popularity baseline (so the ranking is known) and its exclusion of training clicks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";
import { evaluateRanking } from "../../src/engine/evaluate.ts";
import { ndcgAt, recallAt } from "../../src/engine/metrics.ts";
import { trainModel } from "../../src/engine/models/index.ts";
import { resolveVcmConfig } from "../../src/engine/config.ts";

beforeAll(async () => {
  await initBackend("wasm");
});

// Training clicks: u0 {0}, u1 {0, 1}, u2 {0, 1, 2} → popularity counts item0 3, item1 2, item2 1, item3 0,
// so every user's ranking is 0, 1, 2, 3 minus the user's own training clicks.
const train = csrFromRows({ cols: 4, rows: [[[0, 1]], [[0, 1], [1, 1]], [[0, 1], [1, 1], [2, 1]]] });
// Held out: u0 {2, 3}, u1 {3}, u2 nothing (not counted in the means).
const heldOut = csrFromRows({ cols: 4, rows: [[[2, 1], [3, 1]], [[3, 1]], []] });
const words = csrFromRows({ cols: 2, rows: [[[0, 1]], [[1, 1]], [[0, 1]]] });
const L3 = Math.log2(3);

describe("ranking metrics by hand", () => {
  it("match the hand arithmetic per user and in the means", async () => {
    const model = await trainModel({ train, validation: heldOut, words, config: resolveVcmConfig({ variant: "popularity" }) });
    const ev = await evaluateRanking({ model, mode: "vcm", input: train, heldOut, exclude: train, ks: [1, 2, 3] });
    // u0 ranks [1, 2, 3] (item 0 excluded), held out {2, 3}:
    //   @1: item 1 misses → NDCG 0, Recall 0 / min(1, 2) = 0.
    //   @2: item 2 hits at rank 2 → DCG = 1/log2(3) = 0.630930; IDCG (2 hits) = 1 + 1/log2(3) = 1.630930
    //       → NDCG 0.386853; Recall 1 / min(2, 2) = 0.5.
    //   @3: items 2, 3 hit at ranks 2, 3 → DCG = 1/log2(3) + 1/log2(4) = 1.130930 → NDCG 0.693426; Recall 2/2 = 1.
    // u1 ranks [2, 3], held out {3}: @1 miss → 0, 0; @2 and @3: hit at rank 2 → DCG = 0.630930, IDCG = 1
    //   → NDCG 0.630930; Recall 1 / min(R, 1) = 1.
    // u2 has no held-out item → NaN, left out of the means.
    const expected: Record<string, [number, number]> = {
      "ndcg@1": [0, 0],
      "recall@1": [0, 0],
      "ndcg@2": [1 / L3 / (1 + 1 / L3), 1 / L3],
      "recall@2": [0.5, 1],
      "ndcg@3": [(1 / L3 + 0.5) / (1 + 1 / L3), 1 / L3],
      "recall@3": [1, 1],
    };
    for (const [key, [u0, u1]] of Object.entries(expected)) {
      expect(ev.perUser[key][0], `${key} u0`).toBeCloseTo(u0, 10);
      expect(ev.perUser[key][1], `${key} u1`).toBeCloseTo(u1, 10);
      expect(ev.perUser[key][2], `${key} u2`).toBeNaN();
      expect(ev.means[key], `${key} mean`).toBeCloseTo((u0 + u1) / 2, 10);
    }
    expect(ev.means["ndcg@2"]).toBeCloseTo(0.508891, 6);
    expect(ev.means["ndcg@3"]).toBeCloseTo(0.662178, 6);
    expect(Array.from(ev.rows)).toEqual([0, 1, 2]);
  });

  it("computes the same values through the pure functions", () => {
    expect(ndcgAt({ ranked: [1, 2, 3], heldOut: new Set([2, 3]), r: 2 })).toBeCloseTo(0.386853, 6);
    expect(recallAt({ ranked: [1, 2, 3], heldOut: new Set([2, 3]), r: 2 })).toBe(0.5);
    // Recall's denominator is min(R, |held-out|): one hit out of 1 held-out item at R = 3 is 1, not 1/3.
    expect(recallAt({ ranked: [2, 3], heldOut: new Set([3]), r: 3 })).toBe(1);
  });

  it("evaluates only the rows asked for", async () => {
    const model = await trainModel({ train, validation: heldOut, words, config: resolveVcmConfig({ variant: "popularity" }) });
    const ev = await evaluateRanking({ model, mode: "vcm", input: train, heldOut, exclude: train, ks: [2], rows: [1] });
    expect(Array.from(ev.rows)).toEqual([1]);
    expect(ev.perUser["ndcg@2"][0]).toBeCloseTo(1 / L3, 10);
  });
});
