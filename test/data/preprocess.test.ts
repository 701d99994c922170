import { describe, expect, it } from "vitest";
import { CorpusBuilder } from "../../src/data/corpus.ts";
import {
  filterToFixedPoint,
  preprocessCorpus,
  resolvePreprocessOptions,
  selectVocabulary,
  splitSizes,
  splitUserClicks,
  SPLIT_TRAIN,
} from "../../src/data/preprocess.ts";
import { stopWordSet } from "../../src/data/tokenizer.ts";

describe("filterToFixedPoint", () => {
  // Users A..E = 0..4, items 1..4 = 0..3, both thresholds 2. Worked by hand:
  // pass 1 drops D (1 click), then item 4 (only C); pass 2 drops C (now 1 click); pass 3 changes nothing.
  const clicks: Array<[number, number]> = [
    [0, 0], [0, 1], [0, 2], // A: 1 2 3
    [1, 0], [1, 1], // B: 1 2
    [2, 0], [2, 3], // C: 1 4
    [3, 2], // D: 3
    [4, 1], [4, 2], // E: 2 3
  ];
  const users = Int32Array.from(clicks.map((c) => c[0]));
  const items = Int32Array.from(clicks.map((c) => c[1]));

  it("repeats both filters until nothing changes", () => {
    const result = filterToFixedPoint({ users, items, userCount: 5, itemCount: 4, minUserClicks: 2, minItemUsers: 2 });
    expect(Array.from(result.keepUser)).toEqual([1, 1, 0, 0, 1]);
    expect(Array.from(result.keepItem)).toEqual([1, 1, 1, 0]);
    expect(result.keptUsers).toBe(3);
    expect(result.keptItems).toBe(3);
    expect(result.keptClicks).toBe(7);
    expect(result.rounds).toBe(3);
    expect(result.emptiedBy).toBeNull();
  });

  it("names the filter that removed everything", () => {
    expect(filterToFixedPoint({ users, items, userCount: 5, itemCount: 4, minUserClicks: 4, minItemUsers: 1 }).emptiedBy).toBe(
      "min-user-clicks",
    );
    expect(filterToFixedPoint({ users, items, userCount: 5, itemCount: 4, minUserClicks: 1, minItemUsers: 6 }).emptiedBy).toBe(
      "min-item-users",
    );
  });
});

describe("splitUserClicks", () => {
  const clicks = Array.from({ length: 50 }, (_, k) => k);

  it("is the same for the same seed and user, and differs for another seed", () => {
    const a = splitUserClicks(clicks, { seed: 1, user: "u1" });
    const b = splitUserClicks(clicks, { seed: 1, user: "u1" });
    const c = splitUserClicks(clicks, { seed: 2, user: "u1" });
    expect(b).toEqual(a);
    expect(c.test).not.toEqual(a.test);
  });

  it("cuts 60/20/20 and loses nothing", () => {
    const parts = splitUserClicks(clicks, { seed: 7, user: "someone" });
    expect([parts.train.length, parts.validation.length, parts.test.length]).toEqual([30, 10, 10]);
    expect([...parts.train, ...parts.validation, ...parts.test].sort((x, y) => x - y)).toEqual(clicks);
  });

  it("rounds small users to at least one held-out click each from 3 clicks", () => {
    expect(splitSizes(5)).toEqual({ train: 3, validation: 1, test: 1 });
    expect(splitSizes(8)).toEqual({ train: 4, validation: 2, test: 2 });
    expect(splitSizes(3)).toEqual({ train: 1, validation: 1, test: 1 });
    expect(splitSizes(2)).toEqual({ train: 2, validation: 0, test: 0 });
  });

  it("gives about 60/20/20 over many users", () => {
    let train = 0;
    let held = 0;
    for (let u = 0; u < 200; u++) {
      const parts = splitUserClicks(Array.from({ length: 5 + (u % 20) }, (_, k) => k), { seed: 1, user: `u${u}` });
      train += parts.train.length;
      held += parts.validation.length + parts.test.length;
    }
    expect(train / (train + held)).toBeGreaterThan(0.55);
    expect(train / (train + held)).toBeLessThan(0.65);
  });
});

describe("selectVocabulary", () => {
  it("keeps the most frequent words, ties alphabetically", () => {
    const names = ["delta", "alpha", "charlie", "bravo", "echo"];
    const counts = [5, 3, 3, 9, 0];
    expect(Array.from(selectVocabulary({ counts, names, size: 3 }), (t) => names[t])).toEqual(["bravo", "delta", "alpha"]);
    expect(selectVocabulary({ counts, names, size: 100 }).length).toBe(4);
  });
});

describe("preprocessCorpus", () => {
  it("builds a user's words only from texts not attached to validation/test items (the leakage rule)", () => {
    const corpus = new CorpusBuilder({ stopWords: stopWordSet() });
    const itemWords = ["alpha", "bravo", "charlie", "delta", "echo"];
    itemWords.forEach((word, k) => {
      corpus.review({ user: "u", item: `i${k}`, rating: 5, text: `${word} shared`, summary: null, time: null }, true);
    });
    corpus.review({ user: "u", item: null, rating: null, text: "foxtrot", summary: null, time: null }, false);
    corpus.review({ user: "u", item: "other", rating: 2, text: "golf", summary: null, time: null }, true);
    const options = resolvePreprocessOptions({ minUserClicks: 1, minItemUsers: 1 });
    const data = preprocessCorpus(corpus.build(), options);

    expect(data.itemNames).toEqual(["i0", "i1", "i2", "i3", "i4"]); // "other" was rated 2: no click
    const train = Array.from(data.clickCols).filter((_, k) => data.clickSplit[k] === SPLIT_TRAIN);
    expect(train).toHaveLength(3);
    const bag = new Map<string, number>();
    for (let k = data.words.indptr[0]; k < data.words.indptr[1]; k++) bag.set(data.vocabulary[data.words.indices[k]], data.words.values[k]);
    const expected = new Map<string, number>([["shared", 3], ["foxtrot", 1], ["golf", 1]]);
    for (const col of train) expected.set(itemWords[col], 1);
    expect(bag).toEqual(expected);
    // Held-out words are not in the vocabulary either.
    expect(data.vocabulary).toHaveLength(6);
    // Every review of the kept user is kept; the one of the unclicked item has no column.
    expect(data.counts.reviews).toBe(7);
    expect(Array.from(data.reviewCol.slice(5))).toEqual([-1, -1]);
  });

  it("deduplicates (user, item) pairs and treats missing ratings as clicks", () => {
    const corpus = new CorpusBuilder({ stopWords: new Set() });
    for (const [user, item, rating] of [
      ["a", "x", 5], ["a", "x", 4], ["a", "y", null], ["a", "z", 3],
      ["b", "x", 5], ["b", "y", 1], ["b", "y", 4],
    ] as Array<[string, string, number | null]>) {
      corpus.interaction(user, item, rating);
    }
    const data = preprocessCorpus(corpus.build(), resolvePreprocessOptions({ minUserClicks: 1, minItemUsers: 1 }));
    expect(data.userNames).toEqual(["a", "b"]);
    expect(data.itemNames).toEqual(["x", "y"]);
    expect(Array.from(data.clickIndptr)).toEqual([0, 2, 4]);
  });

  it("caps the vocabulary at vocabSize", () => {
    const corpus = new CorpusBuilder({ stopWords: stopWordSet() });
    const words = Array.from({ length: 40 }, (_, k) => `word${k}`);
    for (let u = 0; u < 3; u++) {
      for (let i = 0; i < 3; i++) {
        corpus.review({ user: `u${u}`, item: `i${i}`, rating: 5, text: words.slice(0, 10 + u * 10 + i).join(" "), summary: null, time: null }, true);
      }
    }
    const data = preprocessCorpus(corpus.build(), resolvePreprocessOptions({ minUserClicks: 1, minItemUsers: 1, vocabSize: 15 }));
    expect(data.vocabulary).toHaveLength(15);
    expect(data.words.cols).toBe(15);
    expect(Math.max(...data.words.indices)).toBeLessThan(15);
  });

  it("refuses a corpus emptied by a filter with a sentence naming it", () => {
    const corpus = new CorpusBuilder({ stopWords: new Set() });
    corpus.interaction("a", "x", 5);
    corpus.interaction("a", "y", 2);
    expect(() => preprocessCorpus(corpus.build(), resolvePreprocessOptions())).toThrow(/--min-user-clicks 5/);
    expect(() => preprocessCorpus(corpus.build(), resolvePreprocessOptions({ minRating: 6 }))).toThrow(/--min-rating 6/);
    expect(() => preprocessCorpus(corpus.build(), resolvePreprocessOptions({ minUserClicks: 1, minItemUsers: 2 }))).toThrow(
      /--min-item-users 2/,
    );
  });

  it("rejects option values that cannot work", () => {
    expect(() => resolvePreprocessOptions({ vocabSize: 0 })).toThrow("--vocab-size must be a positive integer, got 0.");
    expect(() => resolvePreprocessOptions({ minUserClicks: 1.5 })).toThrow(/--min-user-clicks/);
  });
});
