/**
 * Reads of a dataset's items: rows by matrix column for rankings, with a raw statement (much faster
 * than TypeORM's repositories: one statement per dataset however many columns), and every item's
 * title and categories for exports.
 */
import type { DataSource } from "typeorm";
import { sqlOf } from "./sql.ts";
import { Item } from "./entities/item.entity.ts";

interface ItemRow {
  id: number;
  datasetId: number;
  externalId: string;
  columnIndex: number;
  clickCount: number;
  trainClickCount: number;
  title: string | null;
  categories: string | null;
  attributes: string | null;
}

/** The items of one dataset at these matrix columns (any order; absent columns are left out). */
export async function itemsByColumns(dataSource: DataSource, datasetId: number, columns: ReadonlyArray<number>): Promise<Item[]> {
  const sql = sqlOf(dataSource);
  const distinct = [...new Set(columns)];
  // The columns travel as one parameter, so a page of any size is one statement with two: a JSON
  // array on SQLite, an integer array on PostgreSQL (whose planner then walks the (dataset, column)
  // index; a set-returning function instead is planned as a scan of all the dataset's items).
  const [inColumns, columnsParameter] =
    sql.dialect === "sqlite" ? [`IN (SELECT "value" FROM json_each(?))`, JSON.stringify(distinct)] : [`= ANY(?::integer[])`, distinct];
  const rows = await sql.all<ItemRow>(
    `SELECT "id", "dataset_id" AS "datasetId", "external_id" AS "externalId", "column_index" AS "columnIndex", ` +
      `"click_count" AS "clickCount", "train_click_count" AS "trainClickCount", "title", "categories", "attributes" FROM "items" ` +
      `WHERE "dataset_id" = ? AND "column_index" ${inColumns}`,
    [datasetId, columnsParameter],
  );
  return rows.map((row) =>
    Object.assign(new Item(), {
      ...row,
      categories: row.categories === null ? null : (JSON.parse(row.categories) as string[]),
      attributes: row.attributes === null ? null : (JSON.parse(row.attributes) as Record<string, unknown>),
    }),
  );
}

/** Every item of a dataset with its matrix column, title and categories (any order). */
export async function itemMetadataRows(dataSource: DataSource, datasetId: number): Promise<Array<Pick<Item, "columnIndex" | "title" | "categories">>> {
  return dataSource.getRepository(Item).find({ where: { datasetId }, select: { columnIndex: true, title: true, categories: true } });
}
