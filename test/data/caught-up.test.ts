import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ReviewSink } from "../../src/data/corpus.ts";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { tsvSource } from "../../src/data/parsers/tsv.ts";
import { yelpSource } from "../../src/data/parsers/yelp.ts";
import { SkipCounter } from "../../src/data/skips.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-caught-up-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A sink that counts records and makes reading wait on `caughtUp`, recording how many records it had seen at each wait. */
function waitingSink(): { sink: ReviewSink; records: () => number; waits: number[] } {
  let records = 0;
  const waits: number[] = [];
  const sink: ReviewSink = {
    interaction: () => {
      records += 1;
    },
    review: () => {
      records += 1;
    },
    caughtUp: async () => {
      waits.push(records);
      await new Promise((resolve) => setTimeout(resolve, 1));
    },
  };
  return { sink, records: () => records, waits };
}

describe("file parsers wait for a sink that writes as it goes", () => {
  const lines = 60_000;
  it.each([
    ["tsv", () => {
      const file = path.join(dir, "i.tsv");
      fs.writeFileSync(file, Array.from({ length: lines }, (_, k) => `user-${k % 997}\titem-${k % 301}\t5\tpadding-to-make-the-file-longer-than-one-chunk`).join("\n"));
      return tsvSource({ interactions: file });
    }],
    ["amazon", () => {
      const file = path.join(dir, "a.json");
      fs.writeFileSync(file, Array.from({ length: lines }, (_, k) => JSON.stringify({ reviewerID: `u${k % 997}`, asin: `i${k % 301}`, overall: 5, reviewText: "fine strings" })).join("\n"));
      return amazonSource({ reviews: file });
    }],
    ["yelp", () => {
      const file = path.join(dir, "y.json");
      fs.writeFileSync(file, Array.from({ length: lines }, (_, k) => JSON.stringify({ user_id: `u${k % 997}`, business_id: `b${k % 301}`, stars: 5, text: "good food" })).join("\n"));
      return yelpSource({ reviews: file });
    }],
  ])("%s: caughtUp is awaited between batches of lines, not only at the end", async (_name, make) => {
    const { sink, records, waits } = waitingSink();
    await make().read({ sink, skips: new SkipCounter(), onProgress: () => undefined });
    expect(records()).toBe(lines);
    expect(waits.length).toBeGreaterThan(1);
    expect(waits[0]).toBeLessThan(lines);
  });
});
