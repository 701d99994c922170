import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDataSource, dialectOf, dialectOfSource, MIGRATIONS, openDatabase, POSTGRES_MIGRATIONS, sqliteOf } from "../../src/db/data-source.ts";
import type { DataSource } from "typeorm";
import { syntheticSource } from "../../src/data/generate.ts";
import { deleteDatasetNamed } from "../../src/db/dataset-rows.ts";
import { Experiment } from "../../src/db/entities/experiment.entity.ts";
import { failAbandonedJobs } from "../../src/db/job-leases.ts";
import { UserError } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createTestDatabase, POSTGRES_URL } from "./databases.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-migrations-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("migrations", () => {
  it("build the whole schema from an empty database, in a folder that did not exist", async () => {
    const dbPath = path.join(dir, "new", "folder", "vcm.sqlite");
    const dataSource = await openDatabase(dbPath);
    try {
      expect(fs.existsSync(dbPath)).toBe(true);
      const db = sqliteOf(dataSource);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(["clicks", "datasets", "items", "migrations", "reviews", "user_word_counts", "users", "words"]));
      const applied = db.prepare("SELECT name FROM migrations ORDER BY id").pluck().all();
      expect(applied).toHaveLength(MIGRATIONS.length);
      // Every entity and the migrations describe the same schema: TypeORM has nothing to change.
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => String(q.query))).toEqual([]);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    } finally {
      await dataSource.destroy();
    }
  });

  it("run once: reopening applies nothing new, and every migration reverts", async () => {
    const dbPath = path.join(dir, "again.sqlite");
    await (await openDatabase(dbPath)).destroy();
    const dataSource = await openDatabase(dbPath);
    try {
      expect(await dataSource.showMigrations()).toBe(false);
      for (let k = 0; k < MIGRATIONS.length; k++) await dataSource.undoLastMigration();
      const tables = sqliteOf(dataSource).prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('migrations', 'sqlite_sequence')").pluck().all();
      expect(tables).toEqual([]);
    } finally {
      await dataSource.destroy();
    }
  });

  it("leave a data source uninitialised until openDatabase", () => {
    expect(createDataSource(path.join(dir, "lazy.sqlite")).isInitialized).toBe(false);
  });
});

if (!POSTGRES_URL) console.warn("PostgreSQL migration tests skipped: set VCM_TEST_POSTGRES_URL (bash scripts/ci/postgres.sh start DIR prints one)");

describe.skipIf(!POSTGRES_URL)("migrations on PostgreSQL", () => {
  it("build the whole schema from an empty database: TypeORM has nothing to change, and every migration reverts", async () => {
    const db = await createTestDatabase("postgres");
    try {
      const dataSource = await openDatabase(db.target);
      try {
        expect(dialectOfSource(dataSource)).toBe("postgres");
        const tables = (await dataSource.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map((r: { tablename: string }) => r.tablename);
        expect(tables).toEqual(["api_keys", "checkpoint_chunks", "checkpoint_files", "clicks", "datasets", "experiments", "export_jobs", "export_shard_parts", "export_shards", "items", "migrations", "model_aliases", "pending_file_removals", "rate_limits", "reviews", "served_recommendations", "trained_models", "training_jobs", "unfinished_review_writes", "user_word_counts", "users", "words"]);
        const pending = await dataSource.driver.createSchemaBuilder().log();
        expect(pending.upQueries.map((q) => String(q.query))).toEqual([]);
        // Millisecond columns hold today's times; word-count blobs are bytea.
        const types = await dataSource.query(
          "SELECT table_name || '.' || column_name AS c, data_type AS t FROM information_schema.columns WHERE (table_name, column_name) IN (('training_jobs', 'lease_expires_at'), ('user_word_counts', 'indices'), ('datasets', 'created_at'), ('datasets', 'sparsity')) ORDER BY 1",
        );
        expect(types).toEqual([
          { c: "datasets.created_at", t: "timestamp with time zone" },
          { c: "datasets.sparsity", t: "double precision" },
          { c: "training_jobs.lease_expires_at", t: "bigint" },
          { c: "user_word_counts.indices", t: "bytea" },
        ]);
        expect(await dataSource.showMigrations()).toBe(false);
        for (let k = 0; k < POSTGRES_MIGRATIONS.length; k++) await dataSource.undoLastMigration();
        const left = await dataSource.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'");
        expect(left).toEqual([]);
      } finally {
        await dataSource.destroy();
      }
    } finally {
      await db.drop();
    }
  });

  it("refuse a server that cannot be reached with a sentence that names it without its password", async () => {
    const error = await openDatabase("postgres://vcm:secret@127.0.0.1:1/vcm").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    const message = (error as Error).message;
    expect(message).toMatch(/^could not connect to the PostgreSQL database postgres:\/\/vcm:\*\*\*@127\.0\.0\.1:1\/vcm \(.+\); check that the server runs/);
    expect(message).not.toContain("secret");
  });
});

/** Row counts of a dataset's tables, and rows whose user or item is missing (none, ever). */
async function rowCounts(dataSource: DataSource): Promise<Record<string, number>> {
  const [row] = (await dataSource.query(
    `SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM items) AS items, (SELECT COUNT(*) FROM clicks) AS clicks,
       (SELECT COUNT(*) FROM reviews) AS reviews, (SELECT COUNT(*) FROM user_word_counts) AS bags,
       (SELECT COUNT(*) FROM clicks c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id AND u.dataset_id = c.dataset_id)
          OR NOT EXISTS (SELECT 1 FROM items i WHERE i.id = c.item_id AND i.dataset_id = c.dataset_id)) AS orphan_clicks,
       (SELECT COUNT(*) FROM reviews r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id AND u.dataset_id = r.dataset_id)
          OR (r.item_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM items i WHERE i.id = r.item_id AND i.dataset_id = r.dataset_id))) AS orphan_reviews`,
  )) as Array<Record<string, string | number>>;
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
}

describe.each(POSTGRES_URL ? (["sqlite", "postgres"] as const) : (["sqlite"] as const))("the migrations to dataset keys only and to rows without a dataset key on %s", (dialect) => {
  it("keep every click and review, leave no row without its user or item, and a deleted dataset takes its rows with it", async () => {
    const db = await createTestDatabase(dialect);
    try {
      const dataSource = await openDatabase(db.target);
      try {
        const shape = { users: 60, items: 40, vocab: 200, clicksPerUser: 6, wordsPerUser: 30, seed: 3 };
        await ingestDataset(dataSource, { name: "kept", source: syntheticSource(shape), preprocess: { vocabSize: 150, seed: 1 } });
        await ingestDataset(dataSource, { name: "dropped", source: syntheticSource({ ...shape, seed: 4 }), preprocess: { vocabSize: 150, seed: 1 } });
        const before = await rowCounts(dataSource);
        expect(before.clicks).toBeGreaterThan(200);
        expect(before.reviews).toBeGreaterThan(100);
        expect(before).toMatchObject({ orphan_clicks: 0, orphan_reviews: 0 });
        // A review and a click of no dataset (what a PostgreSQL ingest killed between its commits leaves)
        // cannot go back under a key: the way down drops them, and only them.
        const [kept] = (await dataSource.query("SELECT id FROM datasets WHERE name = 'kept'")) as Array<{ id: number }>;
        const stray = Number(kept.id) + 1000;
        await dataSource.query(`INSERT INTO reviews (dataset_id, user_id, rating, text) VALUES (${stray}, 1, 5, 'stray')`);
        await dataSource.query(`INSERT INTO clicks (dataset_id, user_id, item_id, split) VALUES (${stray}, 1000000, 1000000, 'train')`);
        // Later migrations (which do not touch these rows) are undone first.
        const migrations = dialect === "sqlite" ? MIGRATIONS : POSTGRES_MIGRATIONS;
        const later = migrations.length - 1 - migrations.findIndex((m) => m.name.endsWith("RowsWithoutDatasetKey1765500000000"));
        for (let k = 0; k < later; k++) await dataSource.undoLastMigration();
        // Back to the keys on dataset, then on user and item, then forward again: the rows survive every step.
        await dataSource.undoLastMigration();
        expect(await rowCounts(dataSource)).toEqual(before);
        await dataSource.undoLastMigration();
        expect(await rowCounts(dataSource)).toEqual(before);
        await dataSource.runMigrations();
        expect(await rowCounts(dataSource)).toEqual(before);
        expect((await dataSource.driver.createSchemaBuilder().log()).upQueries).toEqual([]);

        const [dropped] = (await dataSource.query("SELECT id FROM datasets WHERE name = 'dropped'")) as Array<{ id: number }>;
        expect(await deleteDatasetNamed(dataSource, "dropped")).toBe(true);
        expect(await deleteDatasetNamed(dataSource, "dropped")).toBe(false);
        const after = await rowCounts(dataSource);
        expect(after.users).toBeLessThan(before.users);
        expect(after.clicks).toBeLessThan(before.clicks);
        expect(after.reviews).toBeLessThan(before.reviews);
        expect(after).toMatchObject({ orphan_clicks: 0, orphan_reviews: 0 });
        const left = (await dataSource.query(
          `SELECT (SELECT COUNT(*) FROM clicks WHERE dataset_id = ${Number(dropped.id)}) + (SELECT COUNT(*) FROM reviews WHERE dataset_id = ${Number(dropped.id)}) AS n`,
        )) as Array<{ n: number | string }>;
        expect(Number(left[0].n)).toBe(0);
      } finally {
        await dataSource.destroy();
      }
    } finally {
      await db.drop();
    }
  });
});

describe.each(POSTGRES_URL ? (["sqlite", "postgres"] as const) : (["sqlite"] as const))("the migration to experiment leases on %s", (dialect) => {
  it("keeps experiments written before it, and one left running then has no owner: any server fails it once", async () => {
    const db = await createTestDatabase(dialect);
    try {
      const dataSource = await openDatabase(db.target);
      try {
        await ingestDataset(dataSource, { name: "d", source: syntheticSource({ users: 30, items: 20, vocab: 100, seed: 1 }) });
        await dataSource.undoLastMigration();
        const [dataset] = (await dataSource.query("SELECT id FROM datasets WHERE name = 'd'")) as Array<{ id: number }>;
        await dataSource.query(`INSERT INTO experiments (dataset_id, key, args, out_dir, status, runs_done, runs_total) VALUES (${Number(dataset.id)}, 'k', '{}', '/tmp/x', 'running', 1, 4)`);
        await dataSource.runMigrations();
        const [row] = await dataSource.getRepository(Experiment).find();
        expect(row).toMatchObject({ status: "running", runsDone: 1, runsTotal: 4, owner: null, leaseExpiresAt: null, cancelRequested: false, modelId: null });
        const error = "gone";
        expect(await failAbandonedJobs(dataSource, { table: Experiment, error, exceptOwner: "me" })).toEqual([row.id]);
        expect(await failAbandonedJobs(dataSource, { table: Experiment, error, exceptOwner: "me" })).toEqual([]);
        expect(await dataSource.getRepository(Experiment).findOneByOrFail({ id: row.id })).toMatchObject({ status: "failed", error });
      } finally {
        await dataSource.destroy();
      }
    } finally {
      await db.drop();
    }
  });
});

describe("which database a --db value names", () => {
  it("takes postgres:// and postgresql:// URLs as PostgreSQL and anything else as a SQLite file", () => {
    expect(dialectOf("postgres://u:p@h:5432/db")).toBe("postgres");
    expect(dialectOf("postgresql://h/db")).toBe("postgres");
    expect(dialectOf("PostgreSQL://h/db")).toBe("postgres");
    expect(dialectOf("data/vcm.sqlite")).toBe("sqlite");
    expect(dialectOf("./postgres://not-a-url")).toBe("sqlite");
    expect(dialectOf(":memory:")).toBe("sqlite");
  });
});
