import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDataSource, MIGRATIONS, openDatabase, sqliteOf } from "../../src/db/data-source.ts";

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
