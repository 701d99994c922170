/**
 * Tokenising on a second thread (src/data/token-worker.ts through CorpusBuilder's tokenizeOnWorker)
 * gives the corpus one thread gives: the same word ids in the same order and the same tokens per text,
 * on a real Amazon file (read through the real parser) and on texts chosen to trip it (stop words
 * only, empty text, a summary, one-character tokens, final sigma, more texts than one batch and than
 * the batches allowed in flight).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CorpusBuilder, type Corpus, type RawReview } from "../../src/data/corpus.ts";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { SkipCounter } from "../../src/data/skips.ts";
import { stopWordSet } from "../../src/data/tokenizer.ts";

const stopWords = stopWordSet();

/** Token ids of each text, as words. */
function textsOf(c: Corpus): string[][] {
  const out: string[][] = [];
  for (let r = 0; r + 1 < c.tokenStart.length; r += 1) {
    const words: string[] = [];
    for (let k = c.tokenStart[r]; k < c.tokenStart[r + 1]; k += 1) words.push(c.tokenNames[c.tokens.get(k)]);
    out.push(words);
  }
  return out;
}

function expectSame(a: Corpus, b: Corpus): void {
  expect(b.tokenNames).toEqual(a.tokenNames);
  expect(Array.from(b.tokenStart)).toEqual(Array.from(a.tokenStart));
  expect(b.tokens.length).toBe(a.tokens.length);
  for (let k = 0; k < a.tokens.length; k += 1) if (b.tokens.get(k) !== a.tokens.get(k)) expect.fail(`token ${k}: ${b.tokens.get(k)} ≠ ${a.tokens.get(k)}`);
  expect(b.userNames).toEqual(a.userNames);
  expect(Array.from(b.reviewUser)).toEqual(Array.from(a.reviewUser));
}

function build(reviews: ReadonlyArray<RawReview>, tokenizeOnWorker: boolean): Corpus {
  const builder = new CorpusBuilder({ stopWords, tokenizeOnWorker });
  for (const r of reviews) builder.review(r, true);
  return builder.build();
}

describe("tokenising on a second thread", () => {
  it("gives the same corpus as one thread for texts that trip a tokeniser, over many batches", () => {
    const tricky: RawReview[] = [
      { user: "a", item: "i1", rating: 5, text: "The and of it", summary: null, time: null },
      { user: "a", item: "i2", rating: 4, text: "", summary: "Great!", time: null },
      { user: "b", item: "i1", rating: 3, text: "x y z ok OK Ok", summary: "a b cd", time: null },
      { user: "b", item: "i3", rating: 2, text: "ΟΔΟΣ ΣΟΦΟΣ café naïve 42nd", summary: "ΤΕΛΟΣ", time: 1 },
      { user: "c", item: "i2", rating: 1, text: "end-of-line\nnext\tword", summary: "", time: null },
    ];
    // 9,000 more reviews: more than one batch of 1,024 and more than the 8 batches allowed in flight.
    const words = ["lipstick", "color", "smells", "fresh", "broke", "after", "week", "love", "shade", "gift"];
    const many = Array.from({ length: 9_000 }, (_, i): RawReview => ({
      user: `u${i % 97}`,
      item: `i${i % 31}`,
      rating: 1 + (i % 5),
      text: Array.from({ length: 3 + (i % 17) }, (_, j) => `${words[(i * 7 + j * 3) % words.length]}${(i + j) % 13 === 0 ? String(i % 1000) : ""}`).join(" "),
      summary: i % 3 === 0 ? `summary ${words[i % words.length]}` : null,
      time: null,
    }));
    const reviews = [...tricky, ...many];
    const one = build(reviews, false);
    const two = build(reviews, true);
    expectSame(one, two);
    const texts = textsOf(two);
    expect(texts[0]).toEqual([]);
    expect(texts[1]).toEqual(["great"]);
    expect(texts[2]).toEqual(["ok", "ok", "ok", "cd"]);
    expect(texts[3]).toEqual(["οδος", "σοφος", "café", "naïve", "42nd", "τελος"]);
    expect(texts[4]).toEqual(["end", "line", "next", "word"]);
    expect(texts).toHaveLength(reviews.length);
  });

  const file = path.resolve("..", "shared", "datasets", "amazon-2018-5core", "All_Beauty_5.json.gz");
  if (!fs.existsSync(file)) console.warn(`skipping the real-file tokenising test: ${file} is absent`);
  it.skipIf(!fs.existsSync(file))("gives the same corpus as one thread on All_Beauty_5.json.gz, read by the real parser", async () => {
    const read = async (tokenizeOnWorker: boolean): Promise<Corpus> => {
      const builder = new CorpusBuilder({ stopWords, tokenizeOnWorker });
      await amazonSource({ reviews: file }).read({ sink: builder, skips: new SkipCounter(), onProgress: () => undefined });
      return builder.build();
    };
    const one = await read(false);
    const two = await read(true);
    expect(one.tokenStart.length - 1).toBe(5269);
    expect(one.tokens.length).toBeGreaterThan(50_000);
    expectSame(one, two);
  });
});
