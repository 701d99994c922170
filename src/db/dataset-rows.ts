/**
 * Dataset rows as whole entities, for the few callers that want every column (the `vcm datasets`
 * statistics, the demo's first-start check); lookups by name or id live in load-dataset-matrices.ts.
 */
import type { DataSource } from "typeorm";
import { dialectOfSource } from "./data-source.ts";
import { deleteDatasetRows } from "./dataset-deletion.ts";
import { Dataset, type DatasetSource } from "./entities/dataset.entity.ts";
import { User } from "./entities/user.entity.ts";
import { sqlIn } from "./sql.ts";

/** Every dataset, by name. */
export async function datasetsByName(dataSource: DataSource): Promise<Dataset[]> {
  return dataSource.getRepository(Dataset).find({ order: { name: "ASC" } });
}

/** How many datasets are ingested. */
export async function countDatasets(dataSource: DataSource): Promise<number> {
  return dataSource.getRepository(Dataset).count();
}

/** The dataset of this name that came from this source, or null. */
export async function findDatasetFrom(dataSource: DataSource, o: { name: string; source: DatasetSource }): Promise<Dataset | null> {
  return dataSource.getRepository(Dataset).findOne({ where: { name: o.name, source: o.source } });
}

/** The dataset ingested first (lowest id), or null when there is none. */
export async function firstDataset(dataSource: DataSource): Promise<Dataset | null> {
  return dataSource.getRepository(Dataset).findOne({ where: {}, order: { id: "ASC" } });
}

/** Deletes the dataset of this name with all its rows, or returns false when there was none; its models' folders are the caller's. */
export async function deleteDatasetNamed(dataSource: DataSource, name: string): Promise<boolean> {
  return dataSource.transaction(async (manager) => {
    const sql = sqlIn(manager);
    const row = await sql.get<{ id: number }>("SELECT id FROM datasets WHERE name = ?", [name]);
    if (row === undefined) return false;
    await deleteDatasetRows(sql, row.id);
    return true;
  });
}

/**
 * PostgreSQL: VACUUMs the tables a dataset's rows live in, so the space of deleted datasets is reused
 * (bench:ingest runs it after removing its dataset, so that runs in a row start from the same state;
 * autovacuum does the same in time). SQLite: nothing.
 */
export async function vacuumDatasetTables(dataSource: DataSource): Promise<void> {
  if (dialectOfSource(dataSource) !== "postgres") return;
  await dataSource.query("VACUUM (ANALYZE) reviews, clicks, users, items, words, user_word_counts");
}

/** Ids of a dataset's users in id order, `offset` skipped and at most `limit` of them. */
export async function userIdsInOrder(dataSource: DataSource, o: { datasetId: number; offset: number; limit: number }): Promise<number[]> {
  const users = await dataSource.getRepository(User).find({ where: { datasetId: o.datasetId }, order: { id: "ASC" }, select: { id: true }, skip: o.offset, take: o.limit });
  return users.map((u) => u.id);
}

