/**
 * The storage side of an ingest, on either database (dataset-store.ts opens one): review texts staged
 * while the file is read, the name check, and the one transaction that removes a replaced dataset and
 * writes the new one.
 */
import type { PreprocessedDataset, RawReview, StoredSource } from "../dataset-shapes.ts";

/** What replacing a dataset removed: its trained models' count (their folders are queued for removal). */
export interface RemovedDataset {
  readonly models: number;
}

/** What the final write needs: the preprocessed dataset and what is stored beside it. */
export interface DatasetWrite {
  readonly name: string;
  readonly replace: boolean;
  readonly data: PreprocessedDataset;
  readonly source: StoredSource;
  readonly sparsity: number;
  readonly skipped: Record<string, number>;
  readonly options: Record<string, unknown>;
  readonly onStep: (message: string) => void;
}

/** One ingest's staging area: call close() once, whatever happened. */
export interface DatasetStaging {
  /** Stages review texts by their reading sequence number (a batch at a time). */
  stage(batch: ReadonlyArray<readonly [number, RawReview]>): Promise<void>;
  /** CONFLICT (with a sentence) when `name` exists and replacing was not asked for. */
  checkName(name: string, replace: boolean): Promise<void>;
  /** The one write transaction: removes a replaced dataset (queueing its model folders) and writes the new one. */
  write(o: DatasetWrite): Promise<{ datasetId: number; removed: RemovedDataset | null }>;
  close(): Promise<void>;
}

/** The columns of a new dataset's row, in datasetRowValues' order. */
export const DATASET_COLUMNS =
  "name, source, options, user_count, item_count, click_count, train_click_count, validation_click_count, test_click_count, review_count, vocabulary_size, sparsity, skipped";

/** The values of a new dataset's row (DATASET_COLUMNS), the same on either database. */
export function datasetRowValues(o: Pick<DatasetWrite, "name" | "data" | "source" | "sparsity" | "skipped" | "options">): Array<string | number> {
  const { data } = o;
  return [
    o.name,
    o.source.kind,
    JSON.stringify(o.options),
    data.userNames.length,
    data.itemNames.length,
    data.clickCols.length,
    data.counts.train,
    data.counts.validation,
    data.counts.test,
    data.counts.reviews,
    data.vocabulary.length,
    o.sparsity,
    JSON.stringify(o.skipped),
  ];
}
