import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDataSource, dialectOf, dialectOfSource, MIGRATIONS, openDatabase, POSTGRES_MIGRATIONS, sqliteOf } from "../../src/db/data-source.ts";
import { UserError } from "../../src/errors.ts";
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
        expect(tables).toEqual(["checkpoint_chunks", "checkpoint_files", "clicks", "datasets", "experiments", "items", "migrations", "pending_file_removals", "reviews", "trained_models", "training_jobs", "user_word_counts", "users", "words"]);
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
