import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { tsvSource } from "../../src/data/parsers/tsv.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createTestDatabase, TEST_DIALECT, type TestDatabase } from "../db/databases.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-ingest-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let dataSource: DataSource;
let counter = 0;

function file(name: string, content: string): string {
  const target = path.join(dir, `${counter}-${name}`);
  fs.writeFileSync(target, content);
  return target;
}

/** A grid of users × items where every user clicked every item: survives any filter up to its size. */
function gridInteractions(users: number, items: number, prefix = "u"): string {
  const lines: string[] = [];
  for (let u = 0; u < users; u++) for (let i = 0; i < items; i++) lines.push(`${prefix}${u}\ti${i}\t5`);
  return `${lines.join("\n")}\n`;
}

/** Row counts of every table, to show that a refused ingest changed nothing. */
async function snapshot(): Promise<Record<string, number>> {
  const sql = sqlOf(dataSource);
  const counts: Record<string, number> = {};
  for (const table of ["datasets", "users", "items", "clicks", "reviews", "words", "user_word_counts"]) {
    counts[table] = (await sql.rows<[number]>(`SELECT COUNT(*) FROM ${table}`))[0][0];
  }
  return counts;
}

/** Names of the temporary tables left on the database (none once every ingest has finished). */
async function tempTables(): Promise<string[]> {
  const sql = sqlOf(dataSource);
  const query = sql.dialect === "sqlite" ? "SELECT name FROM sqlite_temp_master WHERE type = 'table'" : "SELECT tablename FROM pg_tables WHERE schemaname LIKE 'pg_temp%'";
  return (await sql.rows<[string]>(query)).map(([n]) => n);
}

let db: TestDatabase;
beforeEach(async () => {
  counter += 1;
  db = await createTestDatabase();
  dataSource = await openDatabase(db.target);
});
afterEach(async () => {
  await dataSource.destroy();
  await db.drop();
});

describe(`ingestDataset on ${TEST_DIALECT}`, () => {

  it("refuses an existing name without replace and changes nothing", async () => {
    const first = await ingestDataset(dataSource, { name: "d", source: tsvSource({ interactions: file("a.tsv", gridInteractions(6, 5)) }) });
    const before = await snapshot();
    const error = await ingestDataset(dataSource, {
      name: "d",
      source: tsvSource({ interactions: file("b.tsv", gridInteractions(7, 6)) }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe(ErrorCode.CONFLICT);
    expect((error as UserError).message).toMatch(/already exists; pass --replace/);
    expect(await snapshot()).toEqual(before);
    expect((await loadDatasetMatrices(dataSource, "d")).datasetId).toBe(first.datasetId);
  });

  it("replaces a dataset completely with replace", async () => {
    await ingestDataset(dataSource, { name: "d", source: tsvSource({ interactions: file("a.tsv", gridInteractions(6, 5)) }) });
    const second = await ingestDataset(dataSource, {
      name: "d",
      replace: true,
      source: tsvSource({ interactions: file("b.tsv", gridInteractions(7, 6, "v")) }),
    });
    expect(second).toMatchObject({ users: 7, items: 6, clicks: 42, replaced: true });
    expect(await snapshot()).toMatchObject({ datasets: 1, users: 7, items: 6, clicks: 42 });
    const matrices = await loadDatasetMatrices(dataSource, "d");
    expect(matrices.userIds).toEqual(["v0", "v1", "v2", "v3", "v4", "v5", "v6"]);
  });

  it("leaves the database unchanged when the file is refused or filtering empties the dataset", async () => {
    await ingestDataset(dataSource, { name: "keep", source: tsvSource({ interactions: file("a.tsv", gridInteractions(6, 5)) }) });
    const before = await snapshot();
    await expect(
      ingestDataset(dataSource, { name: "keep", replace: true, source: amazonSource({ reviews: file("x.csv", "reviewerID,asin\nu,i\n") }) }),
    ).rejects.toThrow(/not Amazon review JSON/);
    await expect(
      ingestDataset(dataSource, { name: "keep", replace: true, source: tsvSource({ interactions: file("small.tsv", gridInteractions(3, 3)) }) }),
    ).rejects.toThrow("The filter --min-user-clicks 5 (applied with --min-item-users 5 until nothing changes) removed every user; lower it.");
    await expect(
      ingestDataset(dataSource, {
        name: "keep",
        replace: true,
        preprocess: { minItemUsers: 10 },
        source: tsvSource({ interactions: file("few.tsv", gridInteractions(6, 5)) }),
      }),
    ).rejects.toThrow(/--min-item-users 10/);
    expect(await snapshot()).toEqual(before);
    // The staging tables are gone, so the next ingest starts clean.
    expect(await tempTables()).toEqual([]);
  });

  it("runs two ingests on one connection at once without mixing their staged texts", async () => {
    const review = (user: string, item: string, word: string): string =>
      JSON.stringify({ reviewerID: user, asin: item, overall: 5, reviewText: `${word} ${word}` });
    const lines = (word: string): string => {
      const rows: string[] = [];
      for (let u = 0; u < 6; u++) for (let i = 0; i < 5; i++) rows.push(review(`u${u}`, `i${i}`, word));
      return `${rows.join("\n")}\n`;
    };
    const [a, b] = await Promise.all([
      ingestDataset(dataSource, { name: "a", source: amazonSource({ reviews: file("a.json", lines("apples")) }) }),
      ingestDataset(dataSource, { name: "b", source: amazonSource({ reviews: file("b.json", lines("bananas")) }) }),
    ]);
    expect([a.reviews, b.reviews]).toEqual([30, 30]);
    const texts = await sqlOf(dataSource).rows("SELECT DISTINCT d.name, r.text FROM reviews r JOIN datasets d ON d.id = r.dataset_id ORDER BY d.name");
    expect(texts).toEqual([["a", "apples apples"], ["b", "bananas bananas"]]);
    expect(await tempTables()).toEqual([]);
  });

  it("stores reviews, user texts and per-split counts, and applies the leakage rule end to end", async () => {
    const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];
    const texts = [
      ...words.map((word, k) => `u0\ti${k}\t${word} common`),
      "u0\t\tprofile tagword",
      ...Array.from({ length: 10 }, (_, k) => `u1\ti${k}\tother text`),
    ];
    const summary = await ingestDataset(dataSource, {
      name: "leak",
      preprocess: { minUserClicks: 1, minItemUsers: 1 },
      source: tsvSource({ interactions: file("i.tsv", gridInteractions(2, 10)), texts: file("t.tsv", `${texts.join("\n")}\n`) }),
    });
    expect(summary).toMatchObject({ users: 2, items: 10, clicks: 20, reviews: 21, splits: { train: 12, validation: 4, test: 4 } });
    const m = await loadDatasetMatrices(dataSource, "leak");
    const bag = new Set<string>();
    for (let k = m.words.indptr[0]; k < m.words.indptr[1]; k++) bag.add(m.vocabulary[m.words.indices[k]]);
    const trainItems = Array.from(m.train.indices.subarray(m.train.indptr[0], m.train.indptr[1]), (c) => m.itemIds[c]);
    const heldOut = [
      ...Array.from(m.validation.indices.subarray(m.validation.indptr[0], m.validation.indptr[1])),
      ...Array.from(m.test.indices.subarray(m.test.indptr[0], m.test.indptr[1])),
    ].map((c) => m.itemIds[c]);
    expect(trainItems).toHaveLength(6);
    expect(heldOut).toHaveLength(4);
    for (const item of trainItems) expect(bag.has(words[Number(item.slice(1))])).toBe(true);
    for (const item of heldOut) expect(bag.has(words[Number(item.slice(1))])).toBe(false);
    expect(bag.has("tagword")).toBe(true);
    const sql = sqlOf(dataSource);
    expect(await sql.rows("SELECT COUNT(*) FROM reviews WHERE item_id IS NULL")).toEqual([[1]]);
    const user = await sql.get("SELECT train_click_count, validation_click_count, test_click_count, review_count FROM users WHERE external_id = 'u0'");
    expect(user).toEqual({ train_click_count: 6, validation_click_count: 2, test_click_count: 2, review_count: 11 });
    // The word count of "common" only counts the six training texts.
    expect(await sql.rows("SELECT count FROM words WHERE word = 'common'")).toEqual([[6]]);
    expect(await sql.rows("SELECT text FROM reviews WHERE text LIKE 'profile%'")).toEqual([["profile tagword"]]);
  });

  it("keeps texts exactly as written: quotes, commas, newlines, backslashes, accents, an empty summary apart from none", async () => {
    const odd = 'He said, "fine"\nthen \\ left; café, naïve\ttab';
    const rows: string[] = [];
    for (let u = 0; u < 6; u++) {
      for (let i = 0; i < 5; i++) {
        const record: Record<string, unknown> = { reviewerID: `u${u}`, asin: `i${i}`, overall: 4, reviewText: u === 0 && i === 0 ? odd : "plain words", unixReviewTime: 1_600_000_000 + u };
        if (u === 0 && i === 0) record.summary = "";
        rows.push(JSON.stringify(record));
      }
    }
    await ingestDataset(dataSource, { name: "odd", source: amazonSource({ reviews: file("odd.json", `${rows.join("\n")}\n`) }) });
    const sql = sqlOf(dataSource);
    const stored = await sql.all<{ text: string; summary: string | null; time: number; rating: number }>(
      "SELECT r.text, r.summary, r.time, r.rating FROM reviews r JOIN users u ON u.id = r.user_id JOIN items i ON i.id = r.item_id WHERE u.external_id = 'u0' AND i.external_id IN ('i0', 'i1') ORDER BY i.external_id",
    );
    expect(stored).toEqual([
      { text: odd, summary: "", time: 1_600_000_000, rating: 4 },
      { text: "plain words", summary: null, time: 1_600_000_000, rating: 4 },
    ]);
  });

  it("drops NUL characters from texts and summaries (PostgreSQL's text cannot hold them) and keeps the rest", async () => {
    const rows: string[] = [];
    for (let u = 0; u < 6; u++) {
      for (let i = 0; i < 5; i++) rows.push(JSON.stringify({ reviewerID: `u${u}`, asin: `i${i}`, overall: 5, reviewText: u === 0 && i === 0 ? "good\u0000 coffee\u0000" : "plain words", summary: u === 0 && i === 0 ? "\u0000tasty" : "ok" }));
    }
    const summary = await ingestDataset(dataSource, { name: "nul", source: amazonSource({ reviews: file("nul.json", `${rows.join("\n")}\n`) }), preprocess: { minUserClicks: 1, minItemUsers: 1 } });
    expect(summary.reviews).toBe(30);
    const stored = await sqlOf(dataSource).all<{ text: string; summary: string }>(
      "SELECT r.text, r.summary FROM reviews r JOIN users u ON u.id = r.user_id JOIN items i ON i.id = r.item_id WHERE u.external_id = 'u0' AND i.external_id = 'i0'",
    );
    expect(stored).toEqual([{ text: "good coffee", summary: "tasty" }]);
    const words = (await sqlOf(dataSource).rows<[string]>("SELECT word FROM words ORDER BY word")).map(([w]) => w);
    expect(words).toEqual(expect.arrayContaining(["coffee", "good", "tasty"]));
  });
});

const SHARED = path.resolve("..", "shared", "datasets", "amazon-2018-5core");
if (!fs.existsSync(SHARED)) console.warn(`skipping the real-file ingest tests: ${SHARED} is absent`);

describe.skipIf(!fs.existsSync(SHARED))(`ingesting the real Amazon 2018 5-core files on ${TEST_DIALECT}`, () => {
  it("gives the sizes after the paper's filter (Fashion 314 × 8, Beauty 134 × 24)", async () => {
    const fashion = await ingestDataset(dataSource, { name: "fashion", source: amazonSource({ reviews: path.join(SHARED, "AMAZON_FASHION_5.json") }) });
    expect(fashion).toMatchObject({ users: 314, items: 8, recordsRead: 3176, skipped: {} });
    const beauty = await ingestDataset(dataSource, { name: "beauty", source: amazonSource({ reviews: path.join(SHARED, "All_Beauty_5.json.gz") }) });
    expect(beauty).toMatchObject({ users: 134, items: 24, recordsRead: 5269, skipped: {} });
    const m = await loadDatasetMatrices(dataSource, "beauty");
    expect(m.vocabulary.slice(0, 3)).toEqual(["hair", "stars", "product"]);
    expect(m.words.rows).toBe(134);
  });
});
