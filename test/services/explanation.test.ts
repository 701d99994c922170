import { describe, expect, it } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { topK } from "../../src/engine/metrics.ts";
import { buildItemWordStats, explainPair, itemWordMatrixFromTexts } from "../../src/services/explanation.ts";

const vocabulary = ["pizza", "crust", "sushi", "fish", "service"];

function denseTies(options: { userWords: number[]; counts: number[]; corpus: Float64Array; mu: number }): number[] {
  const n = options.counts.reduce((a, b) => a + b, 0);
  return options.userWords.map((p, w) => {
    const pItem = (options.counts[w] + options.mu * options.corpus[w]) / (n + options.mu);
    return p * (pItem / options.corpus[w]);
  });
}

describe("explainPair", () => {
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
    const explanation = explainPair({ stats, userWords, userTopWords, item: 0, k: 5 });
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
    const pizzeria = explainPair({ stats, userWords, userTopWords, item: 0, k: 2 });
    // "service" (in its reviews) outweighs "sushi" (the user's top word, absent from them).
    expect(pizzeria.words.map((w) => vocabulary[w.wordIndex])).toEqual(["pizza", "service"]);
    expect(pizzeria.coveredShare).toBeLessThan(1);
    const sushi = explainPair({ stats, userWords, userTopWords, item: 1, k: 2 });
    expect(sushi.words.map((w) => vocabulary[w.wordIndex])).toEqual(["sushi", "fish"]);
  });

  it("falls back to the user's own distribution for an item without reviews", () => {
    const explanation = explainPair({ stats, userWords, userTopWords, item: 2, k: 3 });
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
        const got = explainPair({ stats, userWords, userTopWords: (d) => order.subarray(0, d), item, k });
        expect(got.words.map((w) => w.wordIndex)).toEqual(expected);
        got.words.forEach((w, j) => expect(w.weight).toBeCloseTo(ties[expected[j]] / total, 12));
      }
    }
  });
});
