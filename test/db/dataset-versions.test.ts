import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createTestDatabase } from "./databases.ts";

describe("migration 1765710000000 (dataset versions)", () => {
  it("gives existing datasets version 1 and existing models version 1 with the dataset's present sizes", async () => {
    const database = await createTestDatabase();
    const db = await openDatabase(database.target);
    try {
      const { datasetId, users, items } = await ingestDataset(db, { name: "old", source: syntheticSource({ users: 40, items: 30, vocab: 100, seed: 2 }) });
      // The database as it was before the migration (later migrations undone first), with a model row written then.
      const sql = sqlOf(db);
      const latest = async (): Promise<number> => Number((await sql.get<{ latest: number }>("SELECT MAX(timestamp) AS latest FROM migrations"))!.latest);
      while ((await latest()) >= 1765710000000) await db.undoLastMigration();
      await sql.run(
        `INSERT INTO trained_models (dataset_id, variant, config, backend, status, best_epoch, history) VALUES (?, 'vcm', '{}', 'cpu', 'ready', 1, '[]')`,
        [datasetId],
      );
      await db.runMigrations({ transaction: "each" });
      expect(await sql.get("SELECT version FROM datasets WHERE id = ?", [datasetId])).toEqual({ version: 1 });
      const model = await sql.get<Record<string, number>>("SELECT dataset_version, user_count, item_count FROM trained_models WHERE dataset_id = ?", [datasetId]);
      expect(Object.fromEntries(Object.entries(model!).map(([k, v]) => [k, Number(v)]))).toEqual({ dataset_version: 1, user_count: users, item_count: items });
    } finally {
      await db.destroy();
      await database.drop();
    }
  });
});
