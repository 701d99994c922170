/**
 * What the API needs of one dataset, in one object: its matrices, the lookup from words to vocabulary
 * columns, the tokenizer and stop words it was ingested with, and the per-item word statistics of its
 * reviews (computed on first use). Keyed by dataset id wherever it is cached: a re-ingested (replaced)
 * dataset gets a new id, so nothing held here goes stale.
 */
import type { DataSource } from "typeorm";
import type { DatasetMatrices } from "../data/csr.ts";
import { ItemWordCounter } from "../data/item-words.ts";
import { DEFAULT_STOP_WORD_LANGUAGES, stopWordSet, tokenize } from "../data/tokenizer.ts";
import { datasetOptionsJson, reviewTextsPage } from "../db/review-texts.ts";
import { buildItemWordStats, type ItemWordStats } from "../engine/explanation-rules.ts";
import { nextTurn } from "./turns.ts";

/** Reviews tokenised per turn of the event loop while building a dataset's item word statistics. */
const REVIEWS_PER_PAGE = 2_000;

/** A dataset's matrices, vocabulary lookup, tokenizer and item word statistics. */
export class DatasetIndex {
  readonly matrices: DatasetMatrices;
  /** Word → column of the vocabulary. */
  readonly wordColumn: ReadonlyMap<string, number>;
  /** The stop words the dataset was ingested with. */
  readonly stopWords: ReadonlySet<string>;
  readonly #loadItemWordStats: (index: DatasetIndex) => Promise<ItemWordStats>;
  /** The item word statistics once asked for: held as long as this index is (a failed load is asked again). */
  #itemWordStats: Promise<ItemWordStats> | undefined;

  constructor(options: {
    matrices: DatasetMatrices;
    stopWords: ReadonlySet<string>;
    /** Counts the words of the dataset's reviews per item (one scan of its review texts). */
    loadItemWordStats: (index: DatasetIndex) => Promise<ItemWordStats>;
  }) {
    this.matrices = options.matrices;
    this.wordColumn = new Map(options.matrices.vocabulary.map((word, i) => [word, i]));
    this.stopWords = options.stopWords;
    this.#loadItemWordStats = options.loadItemWordStats;
  }

  /** The dataset's tokenizer (same stop words as its ingest), for texts sent to the API. */
  tokenize(text: string): string[] {
    return tokenize(text, this.stopWords);
  }

  /** The per-item word statistics of the dataset's reviews (computed once, on first use). */
  itemWordStats(): Promise<ItemWordStats> {
    if (this.#itemWordStats === undefined) {
      const loading = this.#loadItemWordStats(this);
      this.#itemWordStats = loading;
      loading.catch(() => {
        if (this.#itemWordStats === loading) this.#itemWordStats = undefined;
      });
    }
    return this.#itemWordStats;
  }
}

/** Reads a dataset's index from the database: its matrices (through `loadMatrices`) and its ingest options. */
export async function loadDatasetIndex(options: {
  dataSource: DataSource;
  datasetId: number;
  loadMatrices: (datasetId: number) => Promise<DatasetMatrices>;
}): Promise<DatasetIndex> {
  const { dataSource, datasetId } = options;
  const matrices = await options.loadMatrices(datasetId);
  const stopWords = stopWordSet(stopWordLanguages(await datasetOptionsJson(dataSource, datasetId)));
  return new DatasetIndex({ matrices, stopWords, loadItemWordStats: (index) => countItemWords({ dataSource, datasetId, index }) });
}

/** The item word statistics of a dataset from its review texts, a page at a time. */
async function countItemWords(options: { dataSource: DataSource; datasetId: number; index: DatasetIndex }): Promise<ItemWordStats> {
  const { dataSource, datasetId, index } = options;
  const counter = new ItemWordCounter({
    numItems: index.matrices.itemIds.length,
    vocabulary: index.matrices.vocabulary,
    tokenize: (text) => index.tokenize(text),
  });
  // Pages with a turn of the event loop between them, so other requests are answered meanwhile.
  for (let after = 0; ; ) {
    const rows = await reviewTextsPage(dataSource, { datasetId, afterId: after, limit: REVIEWS_PER_PAGE });
    for (const row of rows) counter.add(row.item, row.text);
    if (rows.length < REVIEWS_PER_PAGE) break;
    after = rows[rows.length - 1].id;
    await nextTurn();
  }
  return buildItemWordStats({ itemWords: counter.matrix() });
}

/** The stop-word languages a dataset was ingested with (its options), or the default. */
export function stopWordLanguages(optionsJson: string): ReadonlyArray<string> {
  try {
    const options = JSON.parse(optionsJson) as Record<string, unknown>;
    const languages = options.stopWordLanguages;
    if (Array.isArray(languages) && languages.every((l) => typeof l === "string")) return languages as string[];
  } catch {
    // Options written by an older ingest may not be JSON; the default languages apply.
  }
  return DEFAULT_STOP_WORD_LANGUAGES;
}
