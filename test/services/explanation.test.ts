import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it, vi } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { topK } from "../../src/engine/metrics.ts";
import { VcmModel } from "../../src/engine/models/vcm/model.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createPredictionServices } from "../../src/services/prediction-services.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createTestDatabase } from "../db/databases.ts";
import { buildItemWordStats, explainPair, itemWordMatrixFromTexts } from "../../src/services/explanation.ts";

const vocabulary = ["pizza", "crust", "sushi", "fish", "service"];

function denseTies(options: { userWords: number[]; counts: number[]; corpus: Float64Array; mu: number }): number[] {
  const n = options.counts.reduce((a, b) => a + b, 0);
  return options.userWords.map((p, w) => {
    const pItem = (options.counts[w] + options.mu * options.corpus[w]) / (n + options.mu);
    return p * (pItem / options.corpus[w]);
  });
}

describe("explainPair, lift rule", () => {
  const itemWords = csrFromRows({
    cols: 5,
    rows: [
      [[0, 6], [1, 3], [4, 1]], // a pizzeria
      [[2, 5], [3, 4]], // a sushi bar
      [], // an item without reviews
    ],
  });
  const stats = buildItemWordStats({ itemWords, smoothing: 4 });
  const userWords = [0.1, 0.05, 0.4, 0.3, 0.15];
  const order = topK({ scores: userWords, k: 5 });
  const userTopWords = (depth: number) => order.subarray(0, depth);

  it("weights equal the dense smoothed-lift formula and sum to 1 over the vocabulary", () => {
    const explanation = explainPair({ stats, userWords, userTopWords, item: 0, k: 5, rule: "lift" });
    const ties = denseTies({ userWords, counts: [6, 3, 0, 0, 1], corpus: stats.corpusProbability, mu: 4 });
    const total = ties.reduce((a, b) => a + b, 0);
    expect(explanation.affinity).toBeCloseTo(total, 10);
    const byWord = new Map(explanation.words.map((w) => [w.wordIndex, w.weight]));
    ties.forEach((tie, w) => expect(byWord.get(w)).toBeCloseTo(tie / total, 10));
    expect(explanation.coveredShare).toBeCloseTo(1, 10);
    const weights = explanation.words.map((w) => w.weight);
    expect([...weights].sort((a, b) => b - a)).toEqual(weights);
  });

  it("puts the item's characteristic words first: its own words for the pizzeria, fish for the sushi bar", () => {
    const pizzeria = explainPair({ stats, userWords, userTopWords, item: 0, k: 2, rule: "lift" });
    // "service" (in its reviews) outweighs "sushi" (the user's top word, absent from them).
    expect(pizzeria.words.map((w) => vocabulary[w.wordIndex])).toEqual(["pizza", "service"]);
    expect(pizzeria.coveredShare).toBeLessThan(1);
    const sushi = explainPair({ stats, userWords, userTopWords, item: 1, k: 2, rule: "lift" });
    expect(sushi.words.map((w) => vocabulary[w.wordIndex])).toEqual(["sushi", "fish"]);
  });

  it("falls back to the user's own distribution for an item without reviews (both rules)", () => {
    const explanation = explainPair({ stats, userWords, userTopWords, item: 2, k: 3 });
    expect(explanation.rule).toBe("lift");
    expect(explanation.itemTokens).toBe(0);
    expect(explanation.words.map((w) => w.wordIndex)).toEqual([2, 3, 4]);
    explanation.words.forEach((w) => expect(w.weight).toBeCloseTo(userWords[w.wordIndex], 10));
  });
});

describe("itemWordMatrixFromTexts", () => {
  it("counts only vocabulary words per item", () => {
    const matrix = itemWordMatrixFromTexts({
      reviews: [
        { item: 1, text: "Sushi, sushi and fish!" },
        { item: 0, text: "pizza crust" },
        { item: 1, text: "great service" },
      ],
      numItems: 2,
      vocabulary,
      tokenize: (text) => text.toLowerCase().match(/\p{L}+/gu) ?? [],
    });
    expect(Array.from(matrix.indptr)).toEqual([0, 2, 5]);
    expect(Array.from(matrix.indices)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(matrix.values)).toEqual([1, 1, 2, 1, 1]);
  });
});

describe("explainPair against the dense formula on random data", () => {
  it("returns exactly the dense top k with the dense weights", () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const V = 300;
    const rows = Array.from({ length: 6 }, (_, i) => {
      const row: Array<[number, number]> = [];
      for (let w = 0; w < V; w += 1) if (random() < 0.05 * (i + 1)) row.push([w, 1 + Math.floor(random() * 5)]);
      return row;
    });
    const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: V, rows }) });
    const raw = Array.from({ length: V }, () => random() ** 4);
    const mass = raw.reduce((a, b) => a + b, 0);
    const userWords = raw.map((x) => x / mass);
    const order = topK({ scores: userWords, k: V });
    for (let item = 0; item < rows.length; item += 1) {
      const counts = new Array(V).fill(0);
      for (const [w, c] of rows[item]) counts[w] = c;
      const ties = denseTies({ userWords, counts, corpus: stats.corpusProbability, mu: stats.smoothing });
      const total = ties.reduce((a, b) => a + b, 0);
      for (const k of [1, 7, 25]) {
        const expected = Array.from(topK({ scores: ties, k }));
        const got = explainPair({ stats, userWords, userTopWords: (d) => order.subarray(0, d), item, k, rule: "lift" });
        expect(got.words.map((w) => w.wordIndex)).toEqual(expected);
        got.words.forEach((w, j) => expect(w.weight).toBeCloseTo(ties[expected[j]] / total, 12));
      }
    }
  });
});

describe("explainPair, evidence rule", () => {
  // A band's page: its reviews are full of its own name, rare elsewhere; the user barely holds that word.
  const words = ["band", "chill", "ambient", "rock", "guitar"];
  const itemWords = csrFromRows({
    cols: 5,
    rows: [
      [[0, 12], [1, 1], [2, 4]], // the band's page
      [[3, 300], [4, 300]], // a rock shop
      [[1, 20], [2, 10], [3, 10], [4, 10]], // a mixed venue
    ],
  });
  const mu = 4;
  const stats = buildItemWordStats({ itemWords, smoothing: mu });
  const userWords = [0.04, 0.38, 0.3, 0.16, 0.12];
  const order = topK({ scores: userWords, k: 5 });
  const userTopWords = (depth: number) => order.subarray(0, depth);
  // Lifts of the band's page, from the counts above (corpus P(w) = (c_w + 1) / (N + V), N = 667, V = 5).
  const corpus = [13, 22, 15, 311, 311].map((c) => c / 672);
  const lifts = [12, 1, 4, 0, 0].map((c, w) => (c + mu * corpus[w]) / (17 + mu) / corpus[w]);

  it("ranks by p(w|u) among the words with lift > 1, so the page's own name no longer comes second", () => {
    expect(lifts[0]).toBeCloseTo(29.73, 2);
    const byLift = explainPair({ stats, userWords, userTopWords, item: 0, k: 2, rule: "lift" });
    expect(byLift.words.map((w) => words[w.wordIndex])).toEqual(["ambient", "band"]);
    const byEvidence = explainPair({ stats, userWords, userTopWords, item: 0, k: 3, rule: "evidence" });
    expect(byEvidence.rule).toBe("evidence");
    expect(byEvidence.words.map((w) => words[w.wordIndex])).toEqual(["chill", "ambient", "band"]);
    // weight = p(w|u) / Σ over the words with lift > 1 (band, chill, ambient; rock and guitar have lift < 1).
    expect(lifts[1]).toBeGreaterThan(1);
    const scores = [0, 1, 2].map((w) => userWords[w]);
    const total = scores.reduce((a, b) => a + b, 0);
    for (const w of byEvidence.words) {
      expect(w.lift).toBeCloseTo(lifts[w.wordIndex], 10);
      expect(w.weight).toBeCloseTo(scores[w.wordIndex] / total, 10);
    }
    expect(byEvidence.coveredShare).toBeCloseTo(1, 10);
    // The affinity is the same quantity under both rules.
    expect(byEvidence.affinity).toBeCloseTo(byLift.affinity, 10);
  });

  it("lists only words the item's reviews use more than the corpus does", () => {
    const explanation = explainPair({ stats, userWords, userTopWords, item: 1, k: 5, rule: "evidence" });
    // The rock shop: only rock and guitar have lift > 1, however much the user holds chill.
    expect(explanation.words.map((w) => words[w.wordIndex])).toEqual(["rock", "guitar"]);
    for (const w of explanation.words) expect(w.lift).toBeGreaterThan(1);
  });
});

describe("explainPair, effect rule (the default)", () => {
  // The band's page of the evidence example, and the same user, now with a bag of words and, for
  // each of its words, the effect e(w) of deleting it on the page's review2click score.
  const words = ["band", "chill", "ambient", "rock", "guitar"];
  const itemWords = csrFromRows({
    cols: 5,
    rows: [
      [[0, 12], [1, 1], [2, 4]], // the band's page
      [[3, 300], [4, 300]], // a rock shop
      [[1, 20], [2, 10], [3, 10], [4, 10]], // a mixed venue
      [], // an item without reviews
    ],
  });
  const stats = buildItemWordStats({ itemWords, smoothing: 4 });
  const userWords = [0.04, 0.38, 0.3, 0.16, 0.12];
  const order = topK({ scores: userWords, k: 5 });
  const userTopWords = (depth: number) => order.subarray(0, depth);
  // The user wrote band, chill, ambient and rock (not guitar).
  const bagEffects = { words: Int32Array.from([0, 1, 2, 3]), effects: Float32Array.from([0.1, -0.02, 0.05, 0.3]) };

  it("ranks the bag's words with lift > 1 and a positive effect by p(w|u) · e(w)", () => {
    // By hand: chill (the user's top word, lift 1.65) would raise the score if removed (e < 0); rock
    // has the largest effect but lift < 1 on the band's page (its reviews never use it); guitar is not
    // in the bag. Left: ambient 0.3 · 0.05 = 0.015 and band 0.04 · 0.1 = 0.004, total 0.019.
    const explanation = explainPair({ stats, userWords, userTopWords, item: 0, k: 5, bagEffects });
    expect(explanation.rule).toBe("effect");
    expect(explanation.words.map((w) => words[w.wordIndex])).toEqual(["ambient", "band"]);
    expect(explanation.words.map((w) => w.weight)).toEqual([expect.closeTo(15 / 19, 6), expect.closeTo(4 / 19, 6)]);
    expect(explanation.words.map((w) => w.effect)).toEqual([expect.closeTo(0.05, 7), expect.closeTo(0.1, 7)]);
    expect(explanation.words.map((w) => w.userProbability)).toEqual([0.3, 0.04]);
    expect(explanation.coveredShare).toBeCloseTo(1, 10);
    for (const w of explanation.words) expect(w.lift).toBeGreaterThan(1);
    // The affinity does not depend on the rule.
    const byLift = explainPair({ stats, userWords, userTopWords, item: 0, k: 2, rule: "lift" });
    expect(explanation.affinity).toBeCloseTo(byLift.affinity, 10);
    // k = 1: the best word, carrying 15/19 of the total.
    const one = explainPair({ stats, userWords, userTopWords, item: 0, k: 1, bagEffects });
    expect(one.words.map((w) => words[w.wordIndex])).toEqual(["ambient"]);
    expect(one.coveredShare).toBeCloseTo(15 / 19, 6);
  });

  it("lists nothing rather than a word whose removal would raise the score", () => {
    // The rock shop: rock has lift > 1 and e > 0; guitar has lift > 1 but is not in the bag.
    const shop = explainPair({ stats, userWords, userTopWords, item: 1, k: 5, bagEffects });
    expect(shop.words.map((w) => words[w.wordIndex])).toEqual(["rock"]);
    const against = { words: bagEffects.words, effects: Float32Array.from([-0.1, -0.02, 0, 0.3]) };
    const none = explainPair({ stats, userWords, userTopWords, item: 0, k: 5, bagEffects: against });
    expect(none.rule).toBe("effect");
    expect(none.words).toEqual([]);
    expect(none.coveredShare).toBe(0);
  });

  it("falls back to evidence for a user without a bag of words and to lift for an item without reviews", () => {
    const noBag = explainPair({ stats, userWords, userTopWords, item: 0, k: 3, bagEffects: { words: [], effects: [] } });
    expect(noBag.rule).toBe("evidence");
    expect(noBag.words.map((w) => words[w.wordIndex])).toEqual(["chill", "ambient", "band"]);
    const noText = explainPair({ stats, userWords, userTopWords, item: 3, k: 2, bagEffects });
    expect(noText.rule).toBe("lift");
    expect(noText.words.map((w) => words[w.wordIndex])).toEqual(["chill", "ambient"]);
  });
});

describe("the effect rule on a small trained model", () => {
  it("lists only words of the user's bag whose deletion lowers the item's review2click score", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-explain-"));
    const database = await createTestDatabase();
    const dataSource = await openDatabase(database.target);
    const modelsDir = path.join(dir, "models");
    const services = createPredictionServices({ dataSource, config: { dbPath: database.target, modelsDir } });
    try {
      await ingestDataset(dataSource, { name: "d", source: syntheticSource({ users: 150, items: 120, vocab: 200, seed: 1 }) });
      const config = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 5, batchSize: 50, annealSteps: 20, seed: 2 };
      const { model } = await trainAndSave({ dataSource, dataset: "d", variant: "vcm", config, modelsDir });
      const { loaded, dataset } = await services.inference.modelWithDataset(model.id);
      const { words } = dataset.matrices;
      const stats = await services.explanations.itemWordStats(loaded.datasetId);
      const users = [0, 7, 21, 42, 99, 120];
      const rankings = await services.inference.recommendMany(users.map((row) => ({ modelId: model.id, source: "CLICKS" as const, row, k: 3, excludeSeen: true })));
      const pairs = users.flatMap((row, b) => (rankings[b] as Array<{ item: number }>).map((r) => ({ row, item: r.item })));

      // The engine's first-order effects: no tensor left behind, and each bag's effects sum to 0
      // (log π_ui does not change when the whole bag is scaled, the bag being normalised).
      const before = tf.memory().numTensors;
      const firstOrder = await loaded.model.wordEffects({ words, pairs });
      expect(tf.memory().numTensors).toBe(before);
      for (const e of firstOrder) expect(Math.abs(e.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);

      const explanations = await services.explanations.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 5 })));
      // Each listed word, deleted alone from the user's bag, and scored by the model.
      const bags: Array<Array<[number, number]>> = [];
      const probes: Array<{ pair: number; effect: number }> = [];
      pairs.forEach((pair, j) => {
        const explanation = explanations[j];
        if (explanation instanceof Error) throw explanation;
        expect(explanation.rule).toBe("effect");
        const start = words.indptr[pair.row];
        const bag = Array.from(words.indices.subarray(start, words.indptr[pair.row + 1]), (w, t): [number, number] => [w, words.values[start + t]]);
        bags.push(bag);
        for (const w of explanation.words) {
          expect(bag.map(([v]) => v)).toContain(w.wordIndex);
          expect(w.lift).toBeGreaterThan(1);
          expect(w.effect).toBeGreaterThan(0);
          expect(stats.itemTotals[pair.item]).toBeGreaterThan(0);
          probes.push({ pair: j, effect: w.effect! });
          bags.push(bag.filter(([v]) => v !== w.wordIndex));
        }
      });
      expect(probes.length).toBeGreaterThan(pairs.length);
      const scores = await loaded.model.scoreItems({ matrix: csrFromRows({ cols: words.cols, rows: bags }), rows: bags.map((_, i) => i) }, "vcm-cd");
      const items = loaded.model.numItems;
      let row = 0;
      pairs.forEach((pair, j) => {
        const full = scores[row * items + pair.item];
        row += 1;
        for (const probe of probes.filter((p) => p.pair === j)) {
          const without = scores[row * items + pair.item];
          expect(without).toBeLessThan(full);
          // The listed effect is that relative fall.
          expect(probe.effect).toBeCloseTo(1 - without / full, 4);
          row += 1;
        }
      });

      // Asked again, the same explanations come from the model's recent answers, without an engine call.
      // Queries that arrive together share the effect passes: on services whose model holds no recent
      // answers, one engine call each for three callers, with the same answers as each caller alone.
      const firstSpy = vi.spyOn(VcmModel.prototype, "wordEffects");
      const exactSpy = vi.spyOn(VcmModel.prototype, "deletionEffects");
      const fresh = createPredictionServices({ dataSource, config: { dbPath: database.target, modelsDir } });
      try {
        const repeated = await services.explanations.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 5 })));
        expect(firstSpy).not.toHaveBeenCalled();
        expect(exactSpy).not.toHaveBeenCalled();
        expect(repeated).toEqual(explanations);
        // Another k for the same pairs is its own answer: computed (from the kept effects), not the first one's.
        const fewer = await services.explanations.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 2 })));
        fewer.forEach((e, j) => {
          const full = explanations[j];
          if (e instanceof Error || full instanceof Error) throw e instanceof Error ? e : full;
          expect(e.rule).toBe("effect");
          expect(e.words.length).toBeLessThanOrEqual(2);
          for (const w of e.words) expect(w.effect).toBeGreaterThan(0);
        });
        firstSpy.mockClear();
        exactSpy.mockClear();
        const perUser = users.slice(0, 3).map((row) => pairs.filter((p) => p.row === row).map((p) => ({ modelId: model.id, ...p, k: 5 })));
        const together = await Promise.all(perUser.map((requests) => fresh.explanations.explainMany(requests)));
        expect(firstSpy).toHaveBeenCalledTimes(1);
        expect(exactSpy).toHaveBeenCalledTimes(1);
        expect(firstSpy.mock.calls[0][0].pairs).toHaveLength(perUser.flat().length);
        const alone = explanations.slice(0, perUser.flat().length);
        together.flat().forEach((e, j) => {
          const a = alone[j];
          if (e instanceof Error || a instanceof Error) throw e instanceof Error ? e : a;
          expect(e.words.map((w) => w.wordIndex)).toEqual(a.words.map((w) => w.wordIndex));
          e.words.forEach((w, t) => expect(w.effect).toBeCloseTo(a.words[t].effect!, 5));
        });
      } finally {
        firstSpy.mockRestore();
        exactSpy.mockRestore();
        await fresh.close();
      }
    } finally {
      await services.close();
      await dataSource.destroy();
      await database.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
