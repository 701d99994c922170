import { describe, expect, it } from "vitest";
import { stopWordSet, tokenize } from "../../src/data/tokenizer.ts";

describe("tokenize", () => {
  const stopWords = stopWordSet();

  it("lowercases, keeps Unicode letters and digits, drops stop words and one-letter tokens", () => {
    expect(tokenize("The Crème brûlée was GREAT, 10/10!  Naïve café—it's 2x better", stopWords)).toEqual([
      "crème",
      "brûlée",
      "great",
      "10",
      "10",
      "naïve",
      "café",
      "2x",
      "better",
    ]);
  });

  it("takes stop words from the stopword package, and other languages on request", () => {
    expect(stopWords.has("the")).toBe(true);
    expect(stopWords.has("and")).toBe(true);
    expect(stopWords.has("der")).toBe(false);
    expect(stopWordSet(["eng", "deu"]).has("der")).toBe(true);
    expect(tokenize("der Kaffee und the coffee", stopWordSet(["eng", "deu"]))).toEqual(["kaffee", "coffee"]);
    expect(() => stopWordSet(["klingon"])).toThrow(/no stop-word list for language "klingon"/);
  });

  it("splits non-Latin scripts into words too", () => {
    expect(tokenize("Это отличный кофе, не вкусно", stopWordSet(["rus"]))).toEqual(["отличный", "кофе", "вкусно"]);
  });
});
