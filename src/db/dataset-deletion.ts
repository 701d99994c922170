/**
 * Deleting a dataset, the same on both databases: its reviews and clicks first (they keep no foreign
 * key to cascade from, migration 1765500000000), then its row, whose key cascades to its users,
 * items, words, word counts and models.
 */
import type { Sql } from "./sql.ts";

/** The statements that delete dataset `?`, in order, for callers that run them on a driver of their own inside their transaction. */
export const DATASET_DELETION: ReadonlyArray<string> = ["DELETE FROM reviews WHERE dataset_id = ?", "DELETE FROM clicks WHERE dataset_id = ?", "DELETE FROM datasets WHERE id = ?"];

/** Deletes dataset `id` and all its rows; run it inside the caller's transaction. */
export async function deleteDatasetRows(sql: Sql, id: number): Promise<void> {
  for (const statement of DATASET_DELETION) await sql.run(statement, [id]);
}
