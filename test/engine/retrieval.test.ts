/**
 * Approximate retrieval on planted VCM models: the index's top 20 against the exact ranking
 * (Recommender.topItems), the answer when the candidate pool holds every item, and the switch.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { csrFromRows, type CsrMatrix } from "../../src/data/csr.ts";
import { Rng } from "../../src/engine/random.ts";
import { ApproximateRanker } from "../../src/engine/retrieval/approximate-ranker.ts";
import { plantedVcmModel } from "../../src/engine/retrieval/planted-model.ts";
import { APPROXIMATE_RETRIEVAL_MIN_ITEMS, approximateRetrievalBytes, CANDIDATE_FACTOR, usesApproximateRetrieval } from "../../src/engine/retrieval/retrieval-mode.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";

const SMALL = { latentDim: 16, hiddenX: 64, hiddenY: 16 };

/** `users` histories of 3 to 12 random clicks each over `items` items. */
function histories(o: { users: number; items: number; seed: number }): CsrMatrix {
  const rng = new Rng(o.seed);
  const rows = Array.from({ length: o.users }, () => {
    const chosen = new Set<number>();
    const n = 3 + Math.floor(10 * rng.next());
    while (chosen.size < n) chosen.add(Math.floor(o.items * rng.next()));
    return [...chosen].sort((a, b) => a - b).map((c): [number, number] => [c, 1]);
  });
  return csrFromRows({ cols: o.items, rows });
}

function columnsOf(m: CsrMatrix, r: number): Int32Array {
  return m.indices.subarray(m.indptr[r], m.indptr[r + 1]);
}

describe("approximate retrieval", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("finds at least 98 % of the exact top 20 on a planted 20,000-item model", async () => {
    const model = plantedVcmModel({ items: 20_000, words: 50, seed: 11, config: SMALL });
    const clicks = histories({ users: 40, items: 20_000, seed: 5 });
    const rows = Array.from({ length: clicks.rows }, (_, r) => r);
    const exact = await model.topItems({ input: { matrix: clicks, rows }, mode: "vcm", k: 20, exclude: clicks });
    const ranker = await ApproximateRanker.build(model.innerProductRanking());
    const before = tf.memory().numTensors;
    const found = await ranker.top({ input: { matrix: clicks, rows }, mode: "vcm", requests: rows.map((r) => ({ k: 20, exclude: columnsOf(clicks, r) })) });
    expect(tf.memory().numTensors).toBe(before);
    let hits = 0;
    rows.forEach((r) => {
      const truth = new Set(exact.subarray(r * 20, (r + 1) * 20));
      expect(found[r].items).toHaveLength(20);
      for (const item of found[r].items) {
        if (truth.has(item)) hits += 1;
        expect(columnsOf(clicks, r)).not.toContain(item);
      }
    });
    expect(hits / (20 * rows.length)).toBeGreaterThanOrEqual(0.98);
    expect(ranker.numItems).toBe(20_000);
    // What the memory estimate counts before a model is loaded is what the built index holds.
    expect(ranker.bytes).toBe(approximateRetrievalBytes({ items: 20_000, hidden: SMALL.hiddenX }));
    expect(ranker.bytes).toBe(20_000 * ((SMALL.hiddenX + 2) * 2 + 2 * 16 * 4 + 16) + 20_000 * (SMALL.hiddenX + 1) * 4);
    model.dispose();
  });

  it("gives the exact ranking and scores when the candidate pool holds every item", async () => {
    const items = 60;
    const model = plantedVcmModel({ items, words: 20, seed: 3, config: SMALL });
    const clicks = histories({ users: 8, items, seed: 9 });
    const rows = Array.from({ length: clicks.rows }, (_, r) => r);
    const k = 12;
    for (const r of rows) expect(ApproximateRanker.poolSize({ k, excluded: columnsOf(clicks, r).length, numItems: items })).toBe(items);
    const ranker = await ApproximateRanker.build(model.innerProductRanking());
    const found = await ranker.top({ input: { matrix: clicks, rows }, mode: "vcm", requests: rows.map((r) => ({ k, exclude: columnsOf(clicks, r) })) });
    const exact = await model.topItems({ input: { matrix: clicks, rows }, mode: "vcm", k, exclude: clicks });
    const scores = await model.scoreItems({ matrix: clicks, rows }, "vcm");
    rows.forEach((r) => {
      expect(Array.from(found[r].items)).toEqual(Array.from(exact.subarray(r * k, (r + 1) * k)));
      found[r].items.forEach((item, i) => expect(found[r].scores[i]).toBeCloseTo(scores[r * items + item], 6));
    });
    model.dispose();
  });

  it("is used above the documented item count under auto, always under approximate, never under exact", () => {
    expect(usesApproximateRetrieval("auto", APPROXIMATE_RETRIEVAL_MIN_ITEMS - 1)).toBe(false);
    expect(usesApproximateRetrieval("auto", APPROXIMATE_RETRIEVAL_MIN_ITEMS)).toBe(true);
    expect(usesApproximateRetrieval("approximate", 10)).toBe(true);
    expect(usesApproximateRetrieval("exact", 10_000_000)).toBe(false);
    expect(ApproximateRanker.poolSize({ k: 20, excluded: 5, numItems: 1_000_000 })).toBe(CANDIDATE_FACTOR * 25);
  });
});
