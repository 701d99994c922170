/**
 * The rows of model aliases and their serving log (src/services/model-aliases.ts owns what they mean):
 * set, remove and list aliases; append served items; count them and the later clicks on them; prune.
 */
import type { DataSource } from "typeorm";
import { ModelAlias } from "./entities/model-alias.entity.ts";
import { sqlOf } from "./sql.ts";

/** An alias's row as the services read it. */
export interface ModelAliasRow {
  readonly datasetId: number;
  readonly name: string;
  readonly modelId: number;
  readonly candidateModelId: number | null;
  readonly candidateShare: number;
  readonly logServing: boolean;
  readonly updatedAt: Date;
}

/** Creates the alias or replaces what it names (one statement, so two servers setting it at once leave one row). */
export async function upsertModelAlias(dataSource: DataSource, row: Omit<ModelAliasRow, "updatedAt">): Promise<void> {
  await dataSource
    .createQueryBuilder()
    .insert()
    .into(ModelAlias)
    .values({ ...row, updatedAt: new Date() })
    .orUpdate(["model_id", "candidate_model_id", "candidate_share", "log_serving", "updated_at"], ["dataset_id", "name"])
    // An update in place returns no new id for TypeORM to read back (it throws on SQLite otherwise).
    .updateEntity(false)
    .execute();
}

/** Deletes an alias; false when there was none. */
export async function deleteModelAlias(dataSource: DataSource, key: { datasetId: number; name: string }): Promise<boolean> {
  const deleted = await dataSource.getRepository(ModelAlias).delete({ datasetId: key.datasetId, name: key.name });
  return (deleted.affected ?? 0) > 0;
}

/** Every alias of every dataset (a handful of rows: each server holds them all). */
export async function listModelAliases(dataSource: DataSource): Promise<ModelAliasRow[]> {
  const rows = await dataSource.getRepository(ModelAlias).find({ order: { datasetId: "ASC", name: "ASC" } });
  return rows.map((r) => ({ ...r, logServing: Boolean(r.logServing) }));
}

/**
 * Appends the items one model served one user through an alias, each with the highest click id at this
 * moment, read in the same statement, so that a click with a higher id is one the user made later.
 */
export async function insertServedItems(
  dataSource: DataSource,
  served: { datasetId: number; alias: string; modelId: number; userId: number; itemColumns: ReadonlyArray<number> },
): Promise<void> {
  if (served.itemColumns.length === 0) return;
  const values = served.itemColumns.map(() => "(?, ?, ?, ?, ?, (SELECT COALESCE(MAX(id), 0) FROM clicks))").join(", ");
  const params = served.itemColumns.flatMap((column) => [served.datasetId, served.alias, served.modelId, served.userId, column]);
  await sqlOf(dataSource).run(`INSERT INTO served_recommendations (dataset_id, alias, model_id, user_id, item_column, click_mark) VALUES ${values}`, params);
}

/** Per model that served through the alias: distinct (user, item) pairs served, and those the user clicked after first being served it. */
export async function countServedHits(dataSource: DataSource, key: { datasetId: number; alias: string }): Promise<Array<{ modelId: number; served: number; hits: number }>> {
  const rows = await sqlOf(dataSource).all<{ model_id: number; served: number; hits: number }>(
    `SELECT s.model_id, COUNT(*) AS served, SUM(CASE WHEN EXISTS (
       SELECT 1 FROM items i JOIN clicks c ON c.item_id = i.id
       WHERE i.dataset_id = s.dataset_id AND i.column_index = s.item_column AND c.user_id = s.user_id AND c.id > s.mark) THEN 1 ELSE 0 END) AS hits
     FROM (SELECT dataset_id, model_id, user_id, item_column, MIN(click_mark) AS mark FROM served_recommendations
           WHERE dataset_id = ? AND alias = ? GROUP BY dataset_id, model_id, user_id, item_column) s
     GROUP BY s.model_id ORDER BY s.model_id`,
    [key.datasetId, key.alias],
  );
  return rows.map((r) => ({ modelId: Number(r.model_id), served: Number(r.served), hits: Number(r.hits ?? 0) }));
}

/** Deletes served items older than `days` days; returns how many went. */
export async function pruneServedItems(dataSource: DataSource, days: number): Promise<number> {
  const sql = sqlOf(dataSource);
  const { changes } =
    sql.dialect === "sqlite"
      ? await sql.run(`DELETE FROM served_recommendations WHERE served_at < datetime('now', ?)`, [`-${days} days`])
      : await sql.run(`DELETE FROM served_recommendations WHERE served_at < now() - (? * interval '1 day')`, [days]);
  return changes;
}
