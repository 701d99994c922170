import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import type { RawReview, ReviewSink } from "../../src/data/corpus.ts";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { isInteractionsHeader, isTextsHeader, tsvSource } from "../../src/data/parsers/tsv.ts";
import { yelpSource } from "../../src/data/parsers/yelp.ts";
import { SkipCounter } from "../../src/data/skips.ts";
import type { RecordSource } from "../../src/data/source.ts";
import { UserError } from "../../src/errors.ts";

const SHARED = path.resolve("..", "shared", "datasets", "amazon-2018-5core");
const hasShared = fs.existsSync(SHARED);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-parsers-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, content);
  return target;
}

interface Collected {
  reviews: RawReview[];
  interactions: Array<[string, string, number | null]>;
  skips: SkipCounter;
}

async function collect(source: RecordSource): Promise<Collected> {
  const collected: Collected = { reviews: [], interactions: [], skips: new SkipCounter() };
  const sink: ReviewSink = {
    interaction: (user, item, rating) => collected.interactions.push([user, item, rating]),
    review: (review) => collected.reviews.push(review),
  };
  await source.read({ sink, skips: collected.skips, onProgress: () => undefined });
  return collected;
}

const amazonLine = (user: string, item: string, rating: unknown = 5, text = "nice shirt"): string =>
  JSON.stringify({ reviewerID: user, asin: item, overall: rating, reviewText: text, summary: "ok", unixReviewTime: 1400000000 });

describe.skipIf(!hasShared)("real Amazon 2018 5-core files", () => {
  it("reads the concatenated pretty-printed Fashion file", async () => {
    const { reviews, skips } = await collect(amazonSource({ reviews: path.join(SHARED, "AMAZON_FASHION_5.json") }));
    expect(reviews).toHaveLength(3176);
    expect(new Set(reviews.map((r) => r.user)).size).toBe(406);
    expect(new Set(reviews.map((r) => r.item)).size).toBe(31);
    expect(skips.total).toBe(0);
    expect(reviews[0]).toMatchObject({ user: "ALJ66O1Y6SLHA", item: "B000K2PJ4K", rating: 5, text: "Great product and price!", time: 1441324800 });
  });

  it("reads the gzipped Beauty JSON lines", async () => {
    const { reviews, skips } = await collect(amazonSource({ reviews: path.join(SHARED, "All_Beauty_5.json.gz") }));
    expect(reviews).toHaveLength(5269);
    expect(new Set(reviews.map((r) => r.user)).size).toBe(991);
    expect(new Set(reviews.map((r) => r.item)).size).toBe(85);
    expect(skips.total).toBe(0);
  });
});
if (!hasShared) console.warn(`skipping the real-file parser tests: ${SHARED} is absent`);

describe("amazon parser", () => {
  it("reads JSON lines and concatenated multi-line objects alike, plain or gzipped", async () => {
    const lines = [amazonLine("u1", "a"), amazonLine("u2", "b", 3)].join("\n");
    const pretty = [JSON.stringify({ reviewerID: "u1", asin: "a", overall: 5 }, null, 2), JSON.stringify({ reviewerID: "u2", asin: "b", overall: 3, style: { "Size:": " M" } }, null, 2)].join("\n");
    for (const target of [file("lines.json", lines), file("pretty.json", pretty), file("lines.json.gz", zlib.gzipSync(lines))]) {
      const { reviews } = await collect(amazonSource({ reviews: target }));
      expect(reviews.map((r) => [r.user, r.item, r.rating])).toEqual([["u1", "a", 5], ["u2", "b", 3]]);
    }
  });

  it("skips and counts each kind of malformed record with its line number", async () => {
    const bad = Buffer.concat([
      Buffer.from(
        [
          amazonLine("u1", "a"), // 1 ok
          '{"reviewerID": "u2", "asin": "b", "overall": 5', // 2 broken (never closed)
          amazonLine("", "c"), // 3 missing user
          JSON.stringify({ reviewerID: "u3", overall: 4 }), // 4 missing item
          amazonLine("u4", "d", "five"), // 5 rating not a number
          '{"reviewerID": "u5", "asin": "e", "overall": 5,}', // 6 broken
          "", // 7 blank
          "",
        ].join("\n"),
      ),
      Buffer.from('{"reviewerID": "u6", "asin": "f", "overall": 5, "reviewText": "caf'), // 8 invalid UTF-8
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
      Buffer.from(`${amazonLine("u7", "g", "4.0")}\n`), // 9 ok, numeric string
      Buffer.from("[1, 2]\n"), // 10 not an object
      Buffer.from('{"reviewerID": "u8", "asin": "h", "reviewText": "truncated'), // 11 broken at end of file
    ]);
    const { reviews, skips } = await collect(amazonSource({ reviews: file("bad.json", bad) }));
    expect(reviews.map((r) => [r.user, r.rating])).toEqual([["u1", 5], ["u7", 4]]);
    expect(skips.counts()).toEqual({ brokenJson: 4, missingUserId: 1, missingItemId: 1, ratingNotANumber: 1, invalidUtf8: 1 });
    expect(skips.firstLines()).toEqual({ brokenJson: [2, 6, 10, 11], missingUserId: [3], missingItemId: [4], ratingNotANumber: [5], invalidUtf8: [8] });
  });

  it("resyncs after a broken pretty-printed object", async () => {
    const good = JSON.stringify({ reviewerID: "u2", asin: "b", overall: 5 }, null, 2);
    const text = ['{\n  "reviewerID": "u1",\n  "asin": "a",\n  "overall": ', good, good.replace("u2", "u3")].join("\n");
    const { reviews, skips } = await collect(amazonSource({ reviews: file("broken-pretty.json", text) }));
    expect(reviews.map((r) => r.user)).toEqual(["u2", "u3"]);
    expect(skips.firstLines()).toEqual({ brokenJson: [1] });
  });

  it("refuses files that are not the format at all", async () => {
    const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ["image.png", png, /image.png is not a text file/],
      ["empty.json", "", /empty.json is empty/],
      ["blank.json", "\n\n  \n", /blank.json is empty/],
      ["reviews.csv", "reviewerID,asin,overall\nu1,a,5\n", /reviews.csv is not Amazon review JSON: its first line does not start a JSON object/],
      ["array.json", `[${amazonLine("u1", "a")}]`, /it is a JSON array/],
      ["yelp.json", JSON.stringify({ user_id: "u", business_id: "b", stars: 5 }), /No record in yelp.json is a valid Amazon review.*missingUserId: 1/],
      ["broken.json.gz", zlib.gzipSync(amazonLine("u1", "a")).subarray(0, 20), /not a complete gzip file/],
    ];
    for (const [name, content, message] of cases) {
      await expect(collect(amazonSource({ reviews: file(name, content) }))).rejects.toThrow(message);
    }
    await expect(collect(amazonSource({ reviews: path.join(dir, "missing.json") }))).rejects.toBeInstanceOf(UserError);
  });
});

describe("yelp parser", () => {
  it("reads user_id, business_id, stars, text and date", async () => {
    const lines = [
      JSON.stringify({ review_id: "r1", user_id: "u1", business_id: "b1", stars: 4, text: "Great tacos", date: "2016-03-09 12:00:00" }),
      JSON.stringify({ review_id: "r2", user_id: "u2", business_id: "", stars: 4, text: "x" }),
    ].join("\n");
    const { reviews, skips } = await collect(yelpSource({ reviews: file("yelp.jsonl", lines) }));
    expect(reviews).toEqual([{ user: "u1", item: "b1", rating: 4, text: "Great tacos", summary: null, time: 1457524800 }]);
    expect(skips.firstLines()).toEqual({ missingItemId: [2] });
  });
});

describe("tsv parser", () => {
  it("detects a header line", () => {
    expect(isInteractionsHeader(["user_id", "item_id", "rating"])).toBe(true);
    expect(isInteractionsHeader(["u1", "i1", "rating"])).toBe(true);
    expect(isInteractionsHeader(["u1", "i1", "5"])).toBe(false);
    expect(isInteractionsHeader(["u1", "i1"])).toBe(false);
    expect(isTextsHeader(["user", "item", "text"])).toBe(true);
    expect(isTextsHeader(["u1", "", "likes jazz"])).toBe(false);
  });

  it("reads interactions with optional ratings and texts where an empty item is the user's own text", async () => {
    const interactions = file("inter.tsv", "user\titem\trating\nu1\ti1\t5\nu1\ti2\nu2\ti1\tbad\n\t i3\t4\nu3\n");
    const texts = file("texts.tsv", "u1\ti1\tgreat jazz album\nu1\t\tlikes jazz and blues\nu2\ti1\ttab\tinside\n");
    const { interactions: rows, reviews, skips } = await collect(tsvSource({ interactions, texts }));
    expect(rows).toEqual([["u1", "i1", 5], ["u1", "i2", null]]);
    expect(reviews.map((r) => [r.user, r.item, r.text])).toEqual([
      ["u1", "i1", "great jazz album"],
      ["u1", null, "likes jazz and blues"],
      ["u2", "i1", "tab\tinside"],
    ]);
    expect(skips.firstLines()).toEqual({ ratingNotANumber: [4], missingUserId: [5], tooFewFields: [6] });
  });

  it("skips a line that is not valid UTF-8, gzipped or not", async () => {
    const bytes = Buffer.concat([Buffer.from("u1\ti1\t5\nu2\ti"), Buffer.from([0xff, 0xfe]), Buffer.from("\t4\nu3\ti1\n")]);
    for (const target of [file("bad-utf8.tsv", bytes), file("bad-utf8.tsv.gz", zlib.gzipSync(bytes))]) {
      const { interactions: rows, skips } = await collect(tsvSource({ interactions: target }));
      expect(rows).toEqual([["u1", "i1", 5], ["u3", "i1", null]]);
      expect(skips.firstLines()).toEqual({ invalidUtf8: [2] });
    }
  });

  it("refuses a file without tabs and an empty texts file", async () => {
    await expect(collect(tsvSource({ interactions: file("comma.tsv", "u1,i1,5\n") }))).rejects.toThrow(/comma.tsv is not tab-separated/);
    await expect(
      collect(tsvSource({ interactions: file("ok.tsv", "u1\ti1\n"), texts: file("none.tsv", "") })),
    ).rejects.toThrow(/none.tsv is empty/);
  });
});
