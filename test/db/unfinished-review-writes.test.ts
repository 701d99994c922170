/**
 * PostgreSQL's two-connection ingest (src/db/dataset-writer-postgres.ts): reviews committed just
 * before their dataset. A process killed between the two commits leaves reviews of no dataset; these
 * tests make that state by hand and with a real `vcm ingest` killed while it writes, and check that
 * the next ingest removes exactly those reviews and nothing of a live ingest.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { DataSource } from "typeorm";
import { afterAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { removeUnfinishedReviewWrites } from "../../src/db/unfinished-review-writes.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { VCM_BIN } from "../cli/run-vcm.ts";
import { createTestDatabase, POSTGRES_URL } from "./databases.ts";

const WRITE_LOCK = 0x76636d31;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-unfinished-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function count(dataSource: DataSource, query: string, params: unknown[] = []): Promise<number> {
  const rows = (await dataSource.query(query, params)) as Array<{ n: string | number }>;
  return Number(rows[0].n);
}

/** Reviews whose dataset does not exist, and announced writes not yet cleared. */
async function leftovers(dataSource: DataSource): Promise<{ reviews: number; announced: number }> {
  return {
    reviews: await count(dataSource, "SELECT COUNT(*) AS n FROM reviews r WHERE NOT EXISTS (SELECT 1 FROM datasets d WHERE d.id = r.dataset_id)"),
    announced: await count(dataSource, "SELECT COUNT(*) AS n FROM unfinished_review_writes"),
  };
}

/** Every dataset's stored rows match the counts on its own row. */
async function expectWholeDatasets(dataSource: DataSource): Promise<void> {
  const datasets = (await dataSource.query("SELECT id, user_count, click_count, review_count FROM datasets")) as Array<{ id: number; user_count: number; click_count: number; review_count: number }>;
  for (const d of datasets) {
    expect(await count(dataSource, "SELECT COUNT(*) AS n FROM users WHERE dataset_id = $1", [d.id])).toBe(d.user_count);
    expect(await count(dataSource, "SELECT COUNT(*) AS n FROM clicks WHERE dataset_id = $1", [d.id])).toBe(d.click_count);
    expect(await count(dataSource, "SELECT COUNT(*) AS n FROM reviews WHERE dataset_id = $1", [d.id])).toBe(d.review_count);
  }
}

const SHAPE = { users: 80, items: 50, vocab: 300, clicksPerUser: 8, wordsPerUser: 40, seed: 5 };

describe.skipIf(!POSTGRES_URL)("reviews of an ingest that died between its two commits, on PostgreSQL", () => {
  it("are deleted once their ingest has ended, never while it holds its lock, and never a dataset's own", async () => {
    const db = await createTestDatabase("postgres");
    const dataSource = await openDatabase(db.target);
    const holder = new pg.Client({ connectionString: db.target });
    try {
      await ingestDataset(dataSource, { name: "kept", source: syntheticSource(SHAPE), preprocess: { vocabSize: 200, seed: 1 } });
      expect(await leftovers(dataSource)).toEqual({ reviews: 0, announced: 0 });
      const [kept] = (await dataSource.query("SELECT id, review_count FROM datasets WHERE name = 'kept'")) as Array<{ id: number; review_count: number }>;
      expect(kept.review_count).toBeGreaterThan(50);

      // What a kill between the commits leaves: an announced write and its reviews, of a dataset id never committed.
      const dead = kept.id + 1000;
      await dataSource.query("INSERT INTO unfinished_review_writes (dataset_id) VALUES ($1)", [dead]);
      await dataSource.query(
        "INSERT INTO reviews (dataset_id, user_id, item_id, rating, text) SELECT $1, user_id, item_id, rating, text FROM reviews WHERE dataset_id = $2 LIMIT 7",
        [dead, kept.id],
      );
      // The guard for the instant between a dataset's commit and the clean-up's lock: an announcement
      // whose dataset exists goes, and its dataset's reviews stay.
      await dataSource.query("INSERT INTO unfinished_review_writes (dataset_id) VALUES ($1)", [kept.id]);
      expect(await leftovers(dataSource)).toEqual({ reviews: 7, announced: 2 });

      // While another session holds the dead write's lock, that write counts as running: nothing of it goes.
      await holder.connect();
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock($1, $2)", [WRITE_LOCK, dead]);
      expect(await removeUnfinishedReviewWrites(dataSource)).toBe(1);
      expect(await leftovers(dataSource)).toEqual({ reviews: 7, announced: 1 });
      expect(await count(dataSource, "SELECT COUNT(*) AS n FROM reviews WHERE dataset_id = $1", [kept.id])).toBe(kept.review_count);

      await holder.query("COMMIT");
      expect(await removeUnfinishedReviewWrites(dataSource)).toBe(1);
      expect(await leftovers(dataSource)).toEqual({ reviews: 0, announced: 0 });
      await expectWholeDatasets(dataSource);

      // An ingest clears leftovers before it writes.
      await dataSource.query("INSERT INTO unfinished_review_writes (dataset_id) VALUES ($1)", [dead + 1]);
      await dataSource.query("INSERT INTO reviews (dataset_id, user_id, rating, text) VALUES ($1, 1, 5, 'left behind')", [dead + 1]);
      await ingestDataset(dataSource, { name: "second", source: syntheticSource({ ...SHAPE, seed: 6 }), preprocess: { vocabSize: 200, seed: 1 } });
      expect(await leftovers(dataSource)).toEqual({ reviews: 0, announced: 0 });
      await expectWholeDatasets(dataSource);
    } finally {
      await holder.end().catch(() => undefined);
      await dataSource.destroy();
      await db.drop();
    }
  });

  it("a real `vcm ingest` killed at any step of its write leaves the old dataset or the whole new one, and the next ingest leaves no stray review", async () => {
    const db = await createTestDatabase("postgres");
    const reviews = path.join(dir, "big.json");
    const lines: string[] = [];
    for (let k = 0; k < 40_000; k++) {
      lines.push(JSON.stringify({ reviewerID: `u${k % 2000}`, asin: `i${(k * 7 + Math.floor(k / 2000)) % 400}`, overall: 5, reviewText: `review ${k}: solid coffee beans number ${k % 97} and a friendly barista `.repeat(3) }));
    }
    fs.writeFileSync(reviews, `${lines.join("\n")}\n`);
    const env = { ...process.env, VCM_DB: db.target };
    const ingest = (replace: boolean): ReturnType<typeof spawn> =>
      spawn(process.execPath, [VCM_BIN, "ingest", "--dataset", "coffee", ...(replace ? ["--replace"] : []), "--format", "amazon", "--reviews", reviews], { env });
    const dataSource = await openDatabase(db.target);
    try {
      const first = ingest(false);
      expect(await new Promise<number | null>((resolve) => first.on("exit", resolve))).toBe(0);
      const [{ id: firstId }] = (await dataSource.query("SELECT id FROM datasets WHERE name = 'coffee'")) as Array<{ id: number }>;
      // Killed as the reviews start, as the words start (the clicks are done, the reviews may be), and at
      // the dataset's commit ("ingested"): each time the dataset is one whole version.
      for (const step of ["on a second connection", "words", "ingested"]) {
        const child = ingest(true);
        const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
          child.stderr?.on("data", (chunk: Buffer) => {
            if (chunk.toString().includes(step)) child.kill("SIGKILL");
          });
          child.on("exit", (_code, killedBy) => resolve(killedBy));
        });
        expect(signal).toBe("SIGKILL");
        const names = (await dataSource.query("SELECT name FROM datasets")) as Array<{ name: string }>;
        expect(names.map((n) => n.name)).toEqual(["coffee"]);
        await expectWholeDatasets(dataSource);
      }
      const [{ id: lastId }] = (await dataSource.query("SELECT id FROM datasets WHERE name = 'coffee'")) as Array<{ id: number }>;
      expect(lastId).toBeGreaterThanOrEqual(firstId);
      const finished = ingest(true);
      expect(await new Promise<number | null>((resolve) => finished.on("exit", resolve))).toBe(0);
      expect(await leftovers(dataSource)).toEqual({ reviews: 0, announced: 0 });
      await expectWholeDatasets(dataSource);
      // Whichever connection wrote a review, its id is its place in the file (the API lists by id).
      const texts = (await dataSource.query("SELECT r.text FROM reviews r JOIN datasets d ON d.id = r.dataset_id WHERE d.name = 'coffee' ORDER BY r.id")) as Array<{ text: string }>;
      expect(texts).toHaveLength(40_000);
      expect(texts.map((t) => Number(/^review (\d+):/.exec(t.text)![1]))).toEqual(Array.from({ length: 40_000 }, (_, k) => k));
    } finally {
      await dataSource.destroy();
      await db.drop();
    }
  });
});
