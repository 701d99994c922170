/**
 * Items read and written outside TypeORM's repositories, where a raw statement is much faster: rows by
 * matrix column for rankings (one statement per dataset however many columns), and metadata upserts.
 */
import type { DataSource } from "typeorm";
import { sqliteOf } from "./data-source.ts";
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
export function itemsByColumns(dataSource: DataSource, datasetId: number, columns: ReadonlyArray<number>): Item[] {
  const rows = sqliteOf(dataSource)
    .prepare(
      `SELECT "id", "dataset_id" AS "datasetId", "external_id" AS "externalId", "column_index" AS "columnIndex", ` +
        `"click_count" AS "clickCount", "train_click_count" AS "trainClickCount", "title", "categories", "attributes" FROM "items" ` +
        `WHERE "dataset_id" = ? AND "column_index" IN (SELECT "value" FROM json_each(?))`,
    )
    .all(datasetId, JSON.stringify([...new Set(columns)])) as ItemRow[];
  return rows.map((row) =>
    Object.assign(new Item(), {
      ...row,
      categories: row.categories === null ? null : (JSON.parse(row.categories) as string[]),
      attributes: row.attributes === null ? null : (JSON.parse(row.attributes) as Record<string, unknown>),
    }),
  );
}
