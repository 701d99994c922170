/**
 * Reviews an ingest committed while its dataset never was (PostgreSQL only). dataset-writer-postgres.ts
 * writes a dataset's reviews on a second connection and commits them just before the dataset's own
 * transaction; a process killed between the two commits leaves reviews that belong to no dataset. They
 * are invisible (nothing refers to their dataset id, which is never given out again) but take space,
 * so each such write is announced here first and the announcement is deleted by the dataset's commit:
 *
 *   1. the dataset's transaction inserts the dataset row and takes a transaction-scoped advisory lock
 *      on (WRITE_LOCK, dataset id), held until it commits or dies;
 *   2. the second connection commits a row of unfinished_review_writes for that id, then writes and
 *      commits the reviews;
 *   3. the dataset's transaction deletes that row and commits.
 *
 * A row whose lock can be taken belongs to an ingest that has ended; if its dataset does not exist,
 * its reviews are left over and are deleted. Every PostgreSQL ingest does that before it writes (and a
 * failed one after its rollback), so leftovers last until the next ingest on that database.
 */
import type pg from "pg";
import type { DataSource } from "typeorm";
import { clientOf } from "./sql.ts";

/** The first key of the advisory locks above ("vcm1"); the second is the dataset id. */
const WRITE_LOCK = 0x76636d31;

/** Step 1, inside the dataset's transaction: the lock that tells this write from a dead one. */
export async function holdReviewWriteLock(client: pg.PoolClient, datasetId: number): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock($1, $2)", [WRITE_LOCK, datasetId]);
}

/** Step 2, on the reviews' connection outside any transaction: committed before any review is. */
export async function announceReviewWrite(client: pg.PoolClient, datasetId: number): Promise<void> {
  await client.query("INSERT INTO unfinished_review_writes (dataset_id) VALUES ($1)", [datasetId]);
}

/** Step 3, inside the dataset's transaction, just before its commit. */
export async function finishReviewWrite(client: pg.PoolClient, datasetId: number): Promise<void> {
  await client.query("DELETE FROM unfinished_review_writes WHERE dataset_id = $1", [datasetId]);
}

/** Deletes the reviews of ingests that ended without their dataset; returns how many such ingests it cleared. */
export async function removeUnfinishedReviewWrites(dataSource: DataSource): Promise<number> {
  const announced = (await dataSource.query("SELECT dataset_id FROM unfinished_review_writes ORDER BY dataset_id")) as Array<{ dataset_id: number }>;
  if (announced.length === 0) return 0;
  const runner = dataSource.createQueryRunner();
  let cleared = 0;
  try {
    const client = await clientOf(runner);
    for (const { dataset_id: id } of announced) {
      await client.query("BEGIN");
      try {
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock($1, $2) AS ok", [WRITE_LOCK, id]);
        if (rows[0].ok) {
          // The lock is free: that ingest has ended. Had it committed its dataset, the row would be gone
          // with that commit, so the dataset check only guards the instant between the two.
          await client.query("DELETE FROM reviews WHERE dataset_id = $1 AND NOT EXISTS (SELECT 1 FROM datasets WHERE id = $1)", [id]);
          await client.query("DELETE FROM unfinished_review_writes WHERE dataset_id = $1", [id]);
          cleared += 1;
        }
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    }
  } finally {
    await runner.release();
  }
  return cleared;
}
