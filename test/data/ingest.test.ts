import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { tsvSource } from "../../src/data/parsers/tsv.ts";
import { openDatabase, sqliteOf } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-ingest-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let dataSource: DataSource;
let counter = 0;

beforeEach(async () => {
  counter += 1;
  dataSource = await openDatabase(path.join(dir, `db${counter}`, "vcm.sqlite"));
});
afterEach(async () => {
  await dataSource.destroy();
});

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
function snapshot(): Record<string, number> {
  const db = sqliteOf(dataSource);
  return Object.fromEntries(
    ["datasets", "users", "items", "clicks", "reviews", "words", "user_word_counts"].map((table) => [
      table,
      (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n,
    ]),
  );
}

describe("ingestDataset", () => {
  it("refuses an existing name without replace and changes nothing", async () => {
    const first = await ingestDataset(dataSource, { name: "d", source: tsvSource({ interactions: file("a.tsv", gridInteractions(6, 5)) }) });
    const before = snapshot();
    const error = await ingestDataset(dataSource, {
      name: "d",
      source: tsvSource({ interactions: file("b.tsv", gridInteractions(7, 6)) }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe(ErrorCode.CONFLICT);
    expect((error as UserError).message).toMatch(/already exists; pass --replace/);
    expect(snapshot()).toEqual(before);
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
    expect(snapshot()).toMatchObject({ datasets: 1, users: 7, items: 6, clicks: 42 });
    const matrices = await loadDatasetMatrices(dataSource, "d");
    expect(matrices.userIds).toEqual(["v0", "v1", "v2", "v3", "v4", "v5", "v6"]);
  });

  it("leaves the database unchanged when the file is refused or filtering empties the dataset", async () => {
    await ingestDataset(dataSource, { name: "keep", source: tsvSource({ interactions: file("a.tsv", gridInteractions(6, 5)) }) });
    const before = snapshot();
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
    expect(snapshot()).toEqual(before);
    // The staging tables are gone, so the next ingest starts clean.
    const temp = sqliteOf(dataSource).prepare("SELECT name FROM sqlite_temp_master WHERE type = 'table'").pluck().all();
    expect(temp).toEqual([]);
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
    const texts = sqliteOf(dataSource).prepare("SELECT DISTINCT d.name, r.text FROM reviews r JOIN datasets d ON d.id = r.dataset_id ORDER BY d.name").raw().all();
    expect(texts).toEqual([["a", "apples apples"], ["b", "bananas bananas"]]);
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
    const db = sqliteOf(dataSource);
    expect(db.prepare("SELECT COUNT(*) FROM reviews WHERE item_id IS NULL").pluck().get()).toBe(1);
    const user = db.prepare("SELECT train_click_count, validation_click_count, test_click_count, review_count FROM users WHERE external_id = 'u0'").get();
    expect(user).toEqual({ train_click_count: 6, validation_click_count: 2, test_click_count: 2, review_count: 11 });
    // The word count of "common" only counts the six training texts.
    expect(db.prepare("SELECT count FROM words WHERE word = 'common'").pluck().get()).toBe(6);
  });
});

const SHARED = path.resolve("..", "shared", "datasets", "amazon-2018-5core");
if (!fs.existsSync(SHARED)) console.warn(`skipping the real-file ingest tests: ${SHARED} is absent`);

describe.skipIf(!fs.existsSync(SHARED))("ingesting the real Amazon 2018 5-core files", () => {
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
