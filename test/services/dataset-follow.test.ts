/**
 * followDatasetIndex reads only what an append changed, and gets exactly the matrices a whole read of
 * the new version gives (on SQLite, and PostgreSQL in the postgres project): new users and items,
 * training clicks, words added to bags, the held-out splits grown but unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DataSource } from "typeorm";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { appendRecords } from "../../src/services/append.ts";
import { followDatasetIndex, loadDatasetIndex } from "../../src/services/dataset-index.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";

let database: TestDatabase;
let db: DataSource;

beforeAll(async () => {
  database = await createTestDatabase();
  db = await openDatabase(database.target);
  await ingestDataset(db, { name: "d", source: syntheticSource({ users: 80, items: 60, vocab: 150, seed: 4 }) });
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

describe("followDatasetIndex", () => {
  it("reads what an append changed and equals a whole read of the new version", async () => {
    const wholeReads: number[] = [];
    const loadMatrices = (id: number) => {
      wholeReads.push(id);
      return loadDatasetMatrices(db, id);
    };
    const before = await loadDatasetIndex({ dataSource: db, datasetId: (await loadDatasetMatrices(db, "d")).datasetId, loadMatrices });
    const m = before.matrices;
    const [w0, w1] = m.vocabulary;
    const notClicked = m.itemIds.find((_, c) => ![m.train, m.validation, m.test].some((x) => x.indices.subarray(x.indptr[2], x.indptr[3]).includes(c)))!;
    const summary = await appendRecords(db, {
      dataset: "d",
      records: [
        { user: m.userIds[2], item: notClicked, rating: 5, text: `${w0} ${w1} ${w1}` },
        { user: m.userIds[7], item: "new-item", rating: 5, text: null },
        { user: "new-user", item: m.itemIds[0], rating: 5, text: `${w0}` },
        { user: "new-user", item: "new-item", rating: 5, text: null },
      ],
    });
    expect(summary).toMatchObject({ version: 2, usersAdded: 1, itemsAdded: 1 });

    const followed = await followDatasetIndex({ dataSource: db, previous: before, loadMatrices });
    expect(wholeReads).toHaveLength(1);
    const whole = await loadDatasetMatrices(db, "d");
    expect(followed.matrices).toEqual(whole);
    expect(followed.version).toBe(2);
    expect(followed.changedRowsSince(before)).toEqual([2, 7, m.userIds.length]);
    // Nothing appended since: the same index.
    expect(await followDatasetIndex({ dataSource: db, previous: followed, loadMatrices })).toBe(followed);
  });
});
