/**
 * Highlighted reviews (issue 10, §3): tokens at their offsets in the original text, the vocabulary's
 * words marked with the user's p_u(w) and a level from that user's own quantiles.
 */
import { describe, expect, it } from "vitest";
import { stopWordSet, tokenize, tokenSpans } from "../../src/data/tokenizer.ts";
import { highlightSpans, levelThresholds } from "../../src/services/highlights.ts";

const stopWords = stopWordSet(["eng"]);

describe("tokenSpans", () => {
  it("gives each token its place in the original text and the same words as tokenize", () => {
    const text = "Great SUSHI — the tuna was Ğood, a 10/10 spot!";
    const spans = tokenSpans(text, stopWords);
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(["Great", "SUSHI", "the", "tuna", "was", "Ğood", "a", "10", "10", "spot"]);
    expect(spans.map((s) => s.word)).toEqual(["great", "sushi", null, "tuna", null, "ğood", null, "10", "10", "spot"]);
    expect(spans.flatMap((s) => (s.word === null ? [] : [s.word]))).toEqual(tokenize(text, stopWords));
  });
});

describe("highlightSpans", () => {
  // 200 words: word 0 is the user's most probable, then 1, 2, …
  const vocabulary = Array.from({ length: 200 }, (_, i) => `w${i}`);
  vocabulary[0] = "sushi";
  vocabulary[5] = "tuna";
  vocabulary[190] = "spot";
  const wordColumn = new Map(vocabulary.map((w, i) => [w, i]));
  const distribution = Float32Array.from({ length: 200 }, (_, i) => 200 - i);
  const compareTo = Float32Array.from({ length: 200 }, (_, i) => i + 1);

  it("cuts levels at the user's top 1 % and top 10 % of the vocabulary", () => {
    // 200 words: the 2 largest values are HIGH, the 20 largest at least MEDIUM.
    expect(levelThresholds(distribution)).toEqual({ high: 199, medium: 181 });
  });

  it("selects the same thresholds as sorting would, ties and odd sizes included", () => {
    let seed = 1;
    const random = () => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647;
    for (let trial = 0; trial < 300; trial += 1) {
      const ties = trial % 2 === 0;
      const values = Float32Array.from({ length: 1 + Math.floor(random() * 3_000) }, () => (ties ? Math.floor(random() * 5) : random()));
      const sorted = Float64Array.from(values).sort().reverse();
      const at = (share: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))];
      expect(levelThresholds(values)).toEqual({ high: at(0.01), medium: at(0.1) });
    }
  });

  it("marks vocabulary words with p_u(w) and level under both models, and leaves the rest unmarked", () => {
    const text = "Sushi and tuna: my spot";
    const tokens = highlightSpans({ spans: tokenSpans(text, stopWords), wordColumn, distribution, compareTo });
    expect(tokens.map((t) => [text.slice(t.start, t.end), t.word, t.mark?.level ?? null, t.compared?.level ?? null])).toEqual([
      ["Sushi", "sushi", "HIGH", "LOW"],
      ["and", null, null, null],
      ["tuna", "tuna", "MEDIUM", "LOW"],
      ["my", null, null, null],
      ["spot", "spot", "LOW", "MEDIUM"],
    ]);
    expect(tokens[0].mark?.probability).toBe(200);
    expect(tokens[4].compared?.probability).toBe(191);
  });
});
