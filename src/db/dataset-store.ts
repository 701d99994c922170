/**
 * Opens an ingest's staging area (dataset-staging.ts) on the data source's database, so a killed
 * process leaves the old dataset or the complete new one on either.
 */
import type { DataSource } from "typeorm";
import { dialectOfSource } from "./data-source.ts";
import type { DatasetStaging } from "./dataset-staging.ts";
import { openPostgresDatasetStaging } from "./dataset-writer-postgres.ts";
import { openSqliteDatasetStaging } from "./dataset-writer-sqlite.ts";

export async function openDatasetStaging(dataSource: DataSource): Promise<DatasetStaging> {
  return dialectOfSource(dataSource) === "postgres" ? openPostgresDatasetStaging(dataSource) : openSqliteDatasetStaging(dataSource);
}
