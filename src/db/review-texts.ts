/**
 * Raw reads for the explanations' word statistics: a dataset's review texts page by page (with the
 * item's matrix column), and the options it was ingested with (its stop-word languages).
 */
import type { DataSource } from "typeorm";
import { invariant } from "../errors.ts";
import { sqlOf } from "./sql.ts";

/** Up to `limit` reviews of a dataset with ids above `afterId`, in id order, each with its item's column. */
export async function reviewTextsPage(dataSource: DataSource, o: { datasetId: number; afterId: number; limit: number }): Promise<Array<{ id: number; item: number; text: string }>> {
  return sqlOf(dataSource).all<{ id: number; item: number; text: string }>(
    `SELECT r."id" AS "id", i."column_index" AS "item", r."text" AS "text" FROM "reviews" r JOIN "items" i ON i."id" = r."item_id" ` +
      `WHERE r."dataset_id" = ? AND r."id" > ? ORDER BY r."id" LIMIT ?`,
    [o.datasetId, o.afterId, o.limit],
  );
}

/** The options JSON a dataset was ingested with. */
export async function datasetOptionsJson(dataSource: DataSource, datasetId: number): Promise<string> {
  const row = await sqlOf(dataSource).get<{ options: string }>(`SELECT "options" FROM "datasets" WHERE "id" = ?`, [datasetId]);
  invariant(row !== undefined, `dataset ${datasetId} of a loaded model exists`);
  return row.options;
}
