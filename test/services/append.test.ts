import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DataSource } from "typeorm";
import { MAX_REVIEW_LENGTH } from "../../src/data/corpus.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import type { CsrMatrix, DatasetMatrices } from "../../src/dataset-shapes.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { UserError } from "../../src/errors.ts";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { yelpSource } from "../../src/data/parsers/yelp.ts";
import { appendFromSource, appendRecords } from "../../src/services/append.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { evaluateSavedModel } from "../../src/services/model-evaluation.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createTestDatabase, TEST_DIALECT, type TestDatabase } from "../db/databases.ts";

let database: TestDatabase;
let db: DataSource;

beforeAll(async () => {
  database = await createTestDatabase();
  db = await openDatabase(database.target);
});

afterAll(async () => {
  await db.destroy();
  await database.drop();
});

/** Row r's columns of a CSR matrix. */
function rowOf(m: CsrMatrix, r: number): number[] {
  return Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1]));
}

/** Row r of the bag of words as word → count. */
function bagOf(m: CsrMatrix, r: number): Map<number, number> {
  const bag = new Map<number, number>();
  for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) bag.set(m.indices[k], m.values[k]);
  return bag;
}

async function datasetRow(name: string): Promise<Record<string, number>> {
  const row = await sqlOf(db).get<Record<string, number>>(
    "SELECT version, user_count, item_count, click_count, train_click_count, validation_click_count, test_click_count, review_count, sparsity FROM datasets WHERE name = ?",
    [name],
  );
  return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)]));
}

describe("appendRecords", () => {
  let before: DatasetMatrices;
  beforeAll(async () => {
    await ingestDataset(db, { name: "d", source: syntheticSource({ users: 60, items: 40, vocab: 120, seed: 3 }) });
    before = await loadDatasetMatrices(db, "d");
  });

  it("adds new users and items at the next indices, clicks to train, words to bags, and bumps the version once", async () => {
    const rowBefore = await datasetRow("d");
    expect(rowBefore.version).toBe(1);
    const u0 = before.userIds[0];
    const u1 = before.userIds[1];
    const notClicked = before.itemIds.find((_, c) => !rowOf(before.train, 0).includes(c) && !rowOf(before.validation, 0).includes(c) && !rowOf(before.test, 0).includes(c))!;
    const trainItem = before.itemIds[rowOf(before.train, 0)[0]];
    const testItem = before.itemIds[rowOf(before.test, 1)[0]];
    const [w0, w1] = before.vocabulary;
    const committed: Array<{ version: number; changedUserIds: ReadonlyArray<number> }> = [];
    const summary = await appendRecords(db, {
      dataset: "d",
      onCommitted: (change) => committed.push(change),
      records: [
        { user: "newcomer", item: "fresh-item", rating: 5, text: `${w0} ${w0} zzzunknown` },
        { user: "newcomer", item: trainItem, rating: null, text: null },
        { user: u0, item: notClicked, rating: 4, text: null },
        { user: u0, item: trainItem, rating: 5, text: null },
        { user: u0, item: "fresh-item", rating: 1, text: `${w1} ${w1} ${w1}` },
        { user: u1, item: testItem, rating: 5, text: `${w0} ${w1}` },
        { user: "stranger", item: trainItem, rating: 2, text: `${w0}` },
        { user: "", item: "x", rating: 5, text: null },
        { user: "someone", item: "x", rating: Number.NaN, text: null },
      ],
    });
    expect(summary).toMatchObject({
      dataset: "d",
      previousVersion: 1,
      version: 2,
      added: true,
      usersAdded: 1,
      itemsAdded: 1,
      clicksAdded: 3,
      clicksAlreadyPresent: 2,
      reviewsAdded: 3,
      wordsAdded: 5,
      unknownWords: 1,
      notClicks: 2,
      recordsRead: 9,
      changedUsers: 3,
      skipped: { missingUserId: 1, ratingNotANumber: 1, newUserWithoutClick: 1 },
    });
    const idsOf = await sqlOf(db).all<{ id: number }>("SELECT id FROM users WHERE external_id IN (?, ?, ?) ORDER BY id", ["newcomer", u0, u1]);
    expect(committed).toHaveLength(1);
    expect(committed[0].version).toBe(2);
    expect([...committed[0].changedUserIds].sort((a, b) => a - b)).toEqual(idsOf.map((r) => Number(r.id)));

    const after = await loadDatasetMatrices(db, "d");
    expect(after.version).toBe(2);
    const newRow = before.userIds.length;
    const newCol = before.itemIds.length;
    expect(after.userIds).toEqual([...before.userIds, "newcomer"]);
    expect(after.itemIds).toEqual([...before.itemIds, "fresh-item"]);
    expect(after.vocabulary).toEqual(before.vocabulary);
    expect(rowOf(after.train, newRow)).toEqual([before.itemIds.indexOf(trainItem), newCol].sort((a, b) => a - b));
    expect(rowOf(after.train, 0)).toEqual([...rowOf(before.train, 0), before.itemIds.indexOf(notClicked)].sort((a, b) => a - b));
    // The original validation and test splits are kept as they were.
    for (let r = 0; r < before.userIds.length; r++) {
      expect(rowOf(after.validation, r)).toEqual(rowOf(before.validation, r));
      expect(rowOf(after.test, r)).toEqual(rowOf(before.test, r));
    }
    expect(Object.fromEntries(bagOf(after.words, newRow))).toEqual({ 0: 2 });
    const u0Bag = bagOf(before.words, 0);
    expect(bagOf(after.words, 0).get(1)).toBe((u0Bag.get(1) ?? 0) + 3);
    // u1's review of one of its test items stays out of its bag (the ingest's leakage rule), the text is stored.
    expect(bagOf(after.words, 1)).toEqual(bagOf(before.words, 1));

    const row = await datasetRow("d");
    expect(row).toMatchObject({
      version: 2,
      user_count: rowBefore.user_count + 1,
      item_count: rowBefore.item_count + 1,
      click_count: rowBefore.click_count + 3,
      train_click_count: rowBefore.train_click_count + 3,
      validation_click_count: rowBefore.validation_click_count,
      test_click_count: rowBefore.test_click_count,
      review_count: rowBefore.review_count + 3,
    });
    expect(row.sparsity).toBeCloseTo(1 - row.click_count / (row.user_count * row.item_count), 5);
    const newcomer = await sqlOf(db).get<{ train: number; reviews: number; words: number }>(
      "SELECT train_click_count AS train, review_count AS reviews, word_count AS words FROM users WHERE external_id = 'newcomer'",
    );
    expect(newcomer).toEqual({ train: 2, reviews: 1, words: 2 });
    const item = await sqlOf(db).get<{ clicks: number; train: number; col: number }>(
      "SELECT click_count AS clicks, train_click_count AS train, column_index AS col FROM items WHERE external_id = 'fresh-item'",
    );
    expect(item).toEqual({ clicks: 1, train: 1, col: newCol });
  });

  it("is idempotent for repeated clicks: the same clicks again add nothing, say so and keep the version", async () => {
    const records = [{ user: "newcomer", item: "fresh-item", rating: 5, text: null }];
    const again = await appendRecords(db, { dataset: "d", records });
    expect(again).toMatchObject({ added: false, version: 2, previousVersion: 2, clicksAdded: 0, clicksAlreadyPresent: 1 });
    expect(again.message).toContain("Nothing was added");
    expect(again.message).toContain("already there");
    expect((await datasetRow("d")).version).toBe(2);
  });

  it("records on a model the version and sizes it was trained on, and an append keeps every model", async () => {
    const modelsDir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-append-models-"));
    try {
      const { model } = await trainAndSave({ dataSource: db, dataset: "d", variant: "popularity", modelsDir });
      expect(model).toMatchObject({ datasetVersion: 2, userCount: before.userIds.length + 1, itemCount: before.itemIds.length + 1 });
      const summary = await appendRecords(db, { dataset: "d", records: [{ user: "late", item: "late-item", rating: 5, text: null }] });
      expect(summary.version).toBe(3);
      const kept = await sqlOf(db).get<Record<string, unknown>>("SELECT status, dataset_version, user_count FROM trained_models WHERE id = ?", [model.id]);
      expect(kept).toMatchObject({ status: "ready" });
      expect(Number(kept!.dataset_version)).toBe(2);
      expect(Number(kept!.user_count)).toBe(before.userIds.length + 1);
    } finally {
      await fs.rm(modelsDir, { recursive: true, force: true });
    }
  });

  it("evaluates a model trained before an append on the grown dataset: new users and items change nothing it knew", async () => {
    const modelsDir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-append-eval-"));
    try {
      const { model } = await trainAndSave({ dataSource: db, dataset: "d", variant: "vcm", config: { latentDim: 4, hiddenX: 8, hiddenY: 8, epochs: 1, batchSize: 16 }, modelsDir });
      const before = await evaluateSavedModel({ dataSource: db, modelId: model.id });
      // A new user clicking known and new items, and a new item: nothing of a user with test clicks moves.
      const summary = await appendRecords(db, {
        dataset: "d",
        records: [
          { user: "after-model", item: "after-item", rating: 5, text: null },
          { user: "after-model", item: (await loadDatasetMatrices(db, "d")).itemIds[0], rating: 5, text: null },
        ],
      });
      expect(summary).toMatchObject({ added: true, usersAdded: 1, itemsAdded: 1 });
      const after = await evaluateSavedModel({ dataSource: db, modelId: model.id });
      expect(after.users).toBe(before.users);
      expect(after.metrics).toEqual(before.metrics);
    } finally {
      await fs.rm(modelsDir, { recursive: true, force: true });
    }
  });

  it("stores texts as an ingest does: NULs dropped, cut at MAX_REVIEW_LENGTH characters and counted", async () => {
    const long = `${"a\u0000b ".repeat(MAX_REVIEW_LENGTH)}`;
    const summary = await appendRecords(db, { dataset: "d", records: [{ user: "newcomer", item: "fresh-item", rating: 5, text: long }] });
    expect(summary).toMatchObject({ truncated: 1, reviewsAdded: 1, clicksAlreadyPresent: 1 });
    const stored = await sqlOf(db).get<{ text: string }>("SELECT text FROM reviews WHERE dataset_id = ? ORDER BY id DESC LIMIT 1", [summary.datasetId]);
    expect(stored!.text.includes("\u0000")).toBe(false);
    expect([...stored!.text]).toHaveLength(MAX_REVIEW_LENGTH);
  });

  it.each([
    ["amazon", (user: string, item: string, text: string) => JSON.stringify({ reviewerID: user, asin: item, overall: 5, reviewText: text, summary: "ok", unixReviewTime: 1700000000 }), amazonSource],
    ["yelp", (user: string, item: string, text: string) => JSON.stringify({ user_id: user, business_id: item, stars: 5, text, date: "2024-01-02 03:04:05" }), yelpSource],
  ] as const)("appends a %s file: its reviews are clicks with texts", async (format, line, source) => {
    const file = path.join(os.tmpdir(), `vcm-append-${format}-${process.pid}.json`);
    const word = before.vocabulary[2];
    await fs.writeFile(file, [line(`${format}-user`, `${format}-item`, `${word} ${word}`), line(before.userIds[5], `${format}-item`, word), "{broken"].join("\n"));
    try {
      const summary = await appendFromSource(db, { dataset: "d", source: source({ reviews: file }) });
      expect(summary).toMatchObject({ added: true, usersAdded: 1, itemsAdded: 1, clicksAdded: 2, reviewsAdded: 2, wordsAdded: 3, recordsRead: 2, skipped: { brokenJson: 1 } });
    } finally {
      await fs.rm(file, { force: true });
    }
  });

  it("is idempotent for repeated texts: the same review again is not stored twice and its words count once; another time is a new review", async () => {
    const user = before.userIds[7];
    const word = before.vocabulary[4];
    const review = { user, item: "text-item", rating: 5, text: `${word} ${word} ${word}`, time: 1_700_000_000 };
    const wordsOf = async (): Promise<number> => bagOf((await loadDatasetMatrices(db, "d")).words, before.userIds.indexOf(user)).get(4) ?? 0;
    const first = await appendRecords(db, { dataset: "d", records: [review, review] });
    expect(first).toMatchObject({ added: true, reviewsAdded: 1, reviewsAlreadyPresent: 1, wordsAdded: 3 });
    const counted = await wordsOf();
    const again = await appendRecords(db, { dataset: "d", records: [review] });
    expect(again).toMatchObject({ added: false, reviewsAdded: 0, reviewsAlreadyPresent: 1, clicksAlreadyPresent: 1, wordsAdded: 0, version: first.version });
    expect(again.message).toContain("1 review(s) were already there");
    expect(await wordsOf()).toBe(counted);
    const later = await appendRecords(db, { dataset: "d", records: [{ ...review, time: review.time + 86_400 }] });
    expect(later).toMatchObject({ added: true, reviewsAdded: 1, reviewsAlreadyPresent: 0, wordsAdded: 3 });
    expect(await wordsOf()).toBe(counted + 3);
    const stored = await sqlOf(db).get<{ n: number }>("SELECT COUNT(*) AS n FROM reviews r JOIN users u ON u.id = r.user_id WHERE u.external_id = ? AND r.text = ?", [user, review.text]);
    expect(Number(stored!.n)).toBe(2);
  });

  it("refuses an unknown dataset with NOT_FOUND", async () => {
    const error = await appendRecords(db, { dataset: "nope", records: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe("NOT_FOUND");
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("an append that waited for a replacing ingest (PostgreSQL)", () => {
  it("appends to the dataset that replaced the one it waited for, not NOT_FOUND", async () => {
    await ingestDataset(db, { name: "r", source: syntheticSource({ users: 30, items: 20, vocab: 100, seed: 4 }) });
    await ingestDataset(db, { name: "r-next", source: syntheticSource({ users: 40, items: 25, vocab: 100, seed: 5 }) });
    const replacer = db.createQueryRunner();
    await replacer.connect();
    try {
      await replacer.startTransaction();
      await replacer.query("SELECT id FROM datasets WHERE name = 'r' FOR UPDATE");
      const appending = appendRecords(db, { dataset: "r", records: [{ user: "someone-new", item: "thing", rating: 5, text: null }] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // What a replacing ingest commits: the old row gone from the name, another dataset under it.
      await replacer.query("UPDATE datasets SET name = 'r-old' WHERE name = 'r'");
      await replacer.query("UPDATE datasets SET name = 'r' WHERE name = 'r-next'");
      await replacer.commitTransaction();
      const summary = await appending;
      const replaced = await sqlOf(db).get<{ id: number; users: number }>("SELECT id, user_count AS users FROM datasets WHERE name = 'r'");
      expect(summary).toMatchObject({ datasetId: replaced!.id, version: 2, usersAdded: 1 });
      expect(Number(replaced!.users)).toBe(41);
    } finally {
      await replacer.release();
    }
  });
});
