import { describe, expect, it } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { buildItemWordStats, explainPair } from "../../src/engine/explanation-rules.ts";
import { topK } from "../../src/engine/metrics.ts";

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
