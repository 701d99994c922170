/**
 * Ingesting a dataset: read the source's records (staging review texts as they come), preprocess
 * them as the VCM paper does, then write everything in one transaction through the staging area that
 * src/db/dataset-store.ts opens (src/db/dataset-writer-sqlite.ts or dataset-writer-postgres.ts), replacing
 * a dataset of the same name when asked, and report progress on the way.
 */
import type { DataSource } from "typeorm";
import { CorpusBuilder, type RawReview } from "../data/corpus.ts";
import { preprocessCorpus, resolvePreprocessOptions, type PreprocessOptions } from "../data/preprocess.ts";
import { SkipCounter } from "../data/skips.ts";
import type { ReadProgress, RecordSource } from "../data/source.ts";
import { DEFAULT_STOP_WORD_LANGUAGES, stopWordSet } from "../data/tokenizer.ts";
import { openDatasetStaging } from "../db/dataset-store.ts";
import { drainFileRemovals } from "../db/file-removals.ts";
import { checkDatasetName } from "./dataset-names.ts";
import { recordRowsWritten } from "../observability/metrics.ts";

/** What an ingest reports (the CLI prints it; `--json` prints it as one line). */
export interface IngestSummary {
  readonly dataset: string;
  readonly datasetId: number;
  /** Figures after preprocessing. */
  readonly users: number;
  readonly items: number;
  readonly clicks: number;
  readonly reviews: number;
  readonly vocabulary: number;
  /** Malformed records skipped, per reason. */
  readonly skipped: Record<string, number>;
  /** The first few line numbers of each skip reason. */
  readonly skippedLines: Record<string, number[]>;
  /** Reviews kept with their text (or summary) cut at MAX_REVIEW_LENGTH characters (src/data/corpus.ts). */
  readonly truncated: number;
  readonly splits: { readonly train: number; readonly validation: number; readonly test: number };
  readonly sparsity: number;
  /** Records read before preprocessing (reviews and interaction rows). */
  readonly recordsRead: number;
  readonly replaced: boolean;
  /** Models of the replaced dataset that were removed with it (rows and checkpoint folders). */
  readonly removedModels: number;
  readonly seconds: number;
}

/** Phases an ingest goes through, for progress display. */
export type IngestProgress =
  | { readonly phase: "read"; readonly progress: ReadProgress; readonly records: number }
  | { readonly phase: "preprocess" | "write" | "done"; readonly message: string };

/** Reviews staged per SQLite transaction or PostgreSQL spool write while reading (bounded memory, few commits). */
const STAGING_BATCH = 5_000;

/**
 * Reads a source, preprocesses it as the paper does and stores the dataset. Texts are staged while
 * reading (SQLite: a connection-private temp table; PostgreSQL: a local spool file); everything visible
 * is written at the end (src/db/dataset-store.ts), so a killed process leaves the old dataset or the
 * complete new one.
 */
export async function ingestDataset(
  dataSource: DataSource,
  options: {
    name: string;
    source: RecordSource;
    preprocess?: Partial<PreprocessOptions>;
    replace?: boolean;
    stopWordLanguages?: ReadonlyArray<string>;
    onProgress?: (event: IngestProgress) => void;
  },
): Promise<IngestSummary> {
  const started = performance.now();
  const name = checkDatasetName(options.name);
  const preprocess = resolvePreprocessOptions(options.preprocess);
  const stopWordLanguages = options.stopWordLanguages ?? DEFAULT_STOP_WORD_LANGUAGES;
  const stopWords = stopWordSet(stopWordLanguages);
  const onProgress = options.onProgress ?? (() => undefined);
  const staging = await openDatasetStaging(dataSource);
  try {
    // Refuse a name clash before the long parse; the write transaction checks again.
    await staging.checkName(name, options.replace ?? false);
    // Batches are staged in order while reading goes on; a failed one fails the ingest at the end of the read.
    let staged: Promise<void> = Promise.resolve();
    let stageError: unknown = undefined;
    let pending: Array<[number, RawReview]> = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      staged = staged
        .then(() => (stageError === undefined ? staging.stage(batch) : undefined))
        .catch((error: unknown) => {
          stageError ??= error;
        });
    };
    const corpus = new CorpusBuilder({
      stopWords,
      // Tokenising runs on a second thread beside parsing and staging (src/data/token-worker.ts).
      tokenizeOnWorker: true,
      onReviewText: (sequence, review) => {
        pending.push([sequence, review]);
        if (pending.length >= STAGING_BATCH) flush();
      },
    });
    const skips = new SkipCounter();
    try {
      await options.source.read({
        sink: corpus,
        skips,
        onProgress: (progress) => onProgress({ phase: "read", progress, records: corpus.recordCount }),
      });
    } catch (error) {
      corpus.close();
      throw error;
    } finally {
      flush();
      // Whatever the read did, no staging write may still run when the staging area is closed.
      await staged;
    }
    if (stageError !== undefined) {
      corpus.close();
      throw stageError;
    }
    const recordsRead = corpus.recordCount;

    onProgress({ phase: "preprocess", message: `preprocessing ${recordsRead} records` });
    const data = preprocessCorpus(corpus.build(), preprocess);

    onProgress({ phase: "write", message: `writing ${data.userNames.length} users, ${data.clickCols.length} clicks, ${data.counts.reviews} reviews` });
    const sparsity = 1 - data.clickCols.length / (data.userNames.length * data.itemNames.length);
    const { datasetId, removed } = await staging.write({
      name,
      replace: options.replace ?? false,
      data,
      source: options.source,
      sparsity,
      skipped: skips.counts(),
      options: { ...preprocess, stopWordLanguages: [...stopWordLanguages], ...options.source.description },
      onStep: (message) => onProgress({ phase: "write", message }),
    });
    // The models of a replaced dataset are gone with its rows; their checkpoints go only after the commit.
    if (removed !== null) await drainFileRemovals(dataSource);
    const summary: IngestSummary = {
      dataset: name,
      datasetId,
      users: data.userNames.length,
      items: data.itemNames.length,
      clicks: data.clickCols.length,
      reviews: data.counts.reviews,
      vocabulary: data.vocabulary.length,
      skipped: skips.counts(),
      skippedLines: skips.firstLines(),
      truncated: corpus.truncatedCount,
      splits: { train: data.counts.train, validation: data.counts.validation, test: data.counts.test },
      sparsity,
      recordsRead,
      replaced: removed !== null,
      removedModels: removed?.models ?? 0,
      seconds: (performance.now() - started) / 1000,
    };
    recordRowsWritten({ operation: "ingest", table: "clicks", rows: summary.clicks });
    recordRowsWritten({ operation: "ingest", table: "reviews", rows: summary.reviews });
    onProgress({ phase: "done", message: `ingested "${name}": ${summary.users} users, ${summary.items} items, ${summary.clicks} clicks` });
    return summary;
  } finally {
    await staging.close();
  }
}

