import type { DataSource } from "typeorm";
import { datasetsByName } from "../db/dataset-rows.ts";
import type { Dataset } from "../db/entities/dataset.entity.ts";

/** A dataset's statistics as the paper's Table 1 gives them, plus vocabulary and split sizes. */
export interface DatasetStats {
  readonly id: number;
  readonly name: string;
  readonly source: string;
  /** 1 after the ingest, one more per append that added something. */
  readonly version: number;
  readonly users: number;
  readonly items: number;
  /** Distinct clicks over all splits. */
  readonly interactions: number;
  /** 1 − interactions / (users × items). */
  readonly sparsity: number;
  readonly vocabulary: number;
  readonly reviews: number;
  readonly splits: { readonly train: number; readonly validation: number; readonly test: number };
  readonly skipped: Record<string, number>;
  readonly options: Record<string, unknown>;
  readonly createdAt: string;
}

/** Every ingested dataset, by name. */
export async function listDatasets(dataSource: DataSource): Promise<DatasetStats[]> {
  const rows = await datasetsByName(dataSource);
  return rows.map(toStats);
}

export function toStats(row: Dataset): DatasetStats {
  return {
    id: row.id,
    name: row.name,
    source: row.source,
    version: row.version,
    users: row.userCount,
    items: row.itemCount,
    interactions: row.clickCount,
    sparsity: row.sparsity,
    vocabulary: row.vocabularySize,
    reviews: row.reviewCount,
    splits: { train: row.trainClickCount, validation: row.validationClickCount, test: row.testClickCount },
    skipped: row.skipped,
    options: row.options,
    createdAt: row.createdAt instanceof Date ? row.createdAt.toISOString() : String(row.createdAt),
  };
}
