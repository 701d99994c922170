/**
 * What the API needs of one dataset, in one object: its matrices, the lookup from words to vocabulary
 * columns, the tokenizer and stop words it was ingested with, and the per-item word statistics of its
 * reviews (computed on first use). Keyed by dataset id wherever it is cached: a re-ingested (replaced)
 * dataset gets a new id; an append gives it a new version, and the cache then reads a new index whose
 * row stamps say which users' histories changed (`follow`), so answers kept for the others stay valid.
 * A what-if history (`withHistory`) is a one-row index of its own whose answers are never kept.
 */
import { randomUUID } from "node:crypto";
import type { DataSource } from "typeorm";
import { firstColumns, type CsrMatrix, type DatasetMatrices } from "../data/csr.ts";
import { ItemWordCounter } from "../data/item-words.ts";
import { DEFAULT_STOP_WORD_LANGUAGES, stopWordSet, tokenize } from "../data/tokenizer.ts";
import { datasetVersionOf, itemIdsFrom, userCounters, userRowsOf } from "../db/dataset-growth.ts";
import { datasetOptionsJson, reviewTextsPage } from "../db/review-texts.ts";
import { buildItemWordStats, type ItemWordStats } from "../engine/explanation-rules.ts";
import { nextTurn } from "./turns.ts";

/** Reads of what an append changed that further appends kept overtaking before the whole dataset is read instead. */
const MAX_FOLLOW_ATTEMPTS = 3;

/** Reviews tokenised per turn of the event loop while building a dataset's item word statistics. */
const REVIEWS_PER_PAGE = 2_000;

/** The click matrices of a dataset, by split. */
export type ClickSplitName = "train" | "validation" | "test";

/** A history that is not stored: item columns clicked and word counts over the vocabulary. */
export interface WhatIfHistory {
  /** Distinct item columns, ascending. */
  readonly clicks: ReadonlyArray<number>;
  /** Vocabulary column → count. */
  readonly words: ReadonlyMap<number, number>;
}

/** A dataset's matrices, vocabulary lookup, tokenizer and item word statistics. */
export class DatasetIndex {
  readonly matrices: DatasetMatrices;
  /** Word → column of the vocabulary. */
  readonly wordColumn: ReadonlyMap<string, number>;
  /** The stop words the dataset was ingested with. */
  readonly stopWords: ReadonlySet<string>;
  /** The dataset's version (datasets.version) the matrices were read at. */
  readonly version: number;
  /**
   * Names what these matrices are in shared engine calls and kept answers: the dataset and version
   * for a stored index, a fresh id for a what-if history (so nothing it computes is shared or kept).
   */
  readonly scope: string;
  /**
   * Per row, the version at which this process last saw the row's clicks or words change (the
   * version of the first index it read for rows it has not seen change); undefined for a what-if
   * history, whose answers are not kept.
   */
  readonly #rowStamps: Int32Array | undefined;
  /** The version at which the reviews (and so the item word statistics) last changed. */
  readonly statsStamp: number;
  readonly #loadItemWordStats: (index: DatasetIndex) => Promise<ItemWordStats>;
  /** The item word statistics once asked for: held as long as this index is (a failed load is asked again). */
  #itemWordStats: Promise<ItemWordStats> | undefined;
  /** Item external id → column, built on first use. */
  #itemColumn: Map<string, number> | undefined;
  /** Clicks of a split cut to a model's first n items, by split and n (a model trained before an append knows fewer). */
  readonly #clicksByWidth = new Map<string, CsrMatrix>();

  constructor(options: {
    matrices: DatasetMatrices;
    stopWords: ReadonlySet<string>;
    /** Counts the words of the dataset's reviews per item (one scan of its review texts). */
    loadItemWordStats: (index: DatasetIndex) => Promise<ItemWordStats>;
    /** The index of an older version this one follows (its row stamps carry over for unchanged rows). */
    previous?: DatasetIndex;
    /**
     * What differs from `previous`, when the caller knows (followDatasetIndex): the rows whose clicks
     * or words may have changed (all others are the same), and whether any bag of words did. Without
     * it every row is compared.
     */
    changes?: { readonly rows: ReadonlyArray<number>; readonly words: boolean };
    /** A what-if history: no row stamps, a scope of its own. */
    whatIf?: boolean;
  }) {
    this.matrices = options.matrices;
    this.wordColumn = new Map(options.matrices.vocabulary.map((word, i) => [word, i]));
    this.stopWords = options.stopWords;
    this.#loadItemWordStats = options.loadItemWordStats;
    this.version = options.matrices.version;
    const { previous } = options;
    if (options.whatIf === true) {
      this.scope = `what-if:${randomUUID()}`;
      this.#rowStamps = undefined;
      this.statsStamp = this.version;
      return;
    }
    this.scope = `${options.matrices.datasetId}@${this.version}`;
    this.#rowStamps = rowStamps({ matrices: this.matrices, version: this.version, previous, changed: options.changes?.rows });
    const wordsUnchanged = previous !== undefined && (options.changes === undefined ? sameEntries(previous.matrices.words, this.matrices.words) : !options.changes.words);
    this.statsStamp = wordsUnchanged ? previous.statsStamp : this.version;
    // The same reviews give the same statistics: an append of clicks alone keeps them.
    if (wordsUnchanged) this.#itemWordStats = previous.#itemWordStats;
  }

  /**
   * What answers about a row are kept under: the row and the version its history last changed at, so
   * an answer computed before an append is never given for the new history. Undefined for a what-if
   * history (not kept).
   */
  rowKey(row: number): string | undefined {
    const stamp = this.rowStamp(row);
    return stamp === undefined ? undefined : `${row}|${stamp}`;
  }

  /** The version at which the row's history last changed (undefined for a what-if history). */
  rowStamp(row: number): number | undefined {
    const stamps = this.#rowStamps;
    if (stamps === undefined) return undefined;
    return row < stamps.length ? stamps[row] : this.version;
  }

  /** The rows of this index whose clicks or words differ from `previous` (new rows included). */
  changedRowsSince(previous: DatasetIndex): number[] {
    const changed: number[] = [];
    const stamps = this.#rowStamps;
    if (stamps === undefined) return changed;
    for (let row = 0; row < stamps.length; row += 1) if (previous.rowKey(row) !== this.rowKey(row)) changed.push(row);
    return changed;
  }

  /**
   * The training clicks (or another split's) over a model's first `items` columns: a model trained
   * before items were appended scores only the items it knows and reads only those columns of each
   * history. The matrix itself when the model knows every item, so its scores are those of training exactly.
   */
  clicksFor(items: number, split: ClickSplitName = "train"): CsrMatrix {
    const matrix = this.matrices[split];
    if (items >= matrix.cols) return matrix;
    const key = `${split}|${items}`;
    let cut = this.#clicksByWidth.get(key);
    if (cut === undefined) {
      cut = firstColumns(matrix, items);
      this.#clicksByWidth.set(key, cut);
    }
    return cut;
  }

  /**
   * A one-row index over a history that is not stored (recommendFor): row 0 holds its clicks (train)
   * and its bag of words; the vocabulary, item ids, tokenizer and item word statistics are this
   * index's. Its answers are neither kept nor shared with other requests.
   */
  withHistory(history: WhatIfHistory): DatasetIndex {
    const { matrices } = this;
    const clicks = Int32Array.from(history.clicks);
    const words = Int32Array.from([...history.words.keys()].sort((a, b) => a - b));
    const oneRow = (cols: number, indices: Int32Array, values: Float32Array): CsrMatrix => ({
      rows: 1,
      cols,
      indptr: Int32Array.from([0, indices.length]),
      indices,
      values,
    });
    const none = oneRow(matrices.train.cols, new Int32Array(0), new Float32Array(0));
    return new DatasetIndex({
      matrices: {
        ...matrices,
        train: oneRow(matrices.train.cols, clicks, new Float32Array(clicks.length).fill(1)),
        validation: none,
        test: none,
        words: oneRow(matrices.words.cols, words, Float32Array.from(words, (w) => history.words.get(w)!)),
        userIds: ["what-if"],
      },
      stopWords: this.stopWords,
      loadItemWordStats: () => this.itemWordStats(),
      whatIf: true,
    });
  }

  /** The column of an item by its external id (undefined for an id the dataset does not have). */
  itemColumn(externalId: string): number | undefined {
    this.#itemColumn ??= new Map(this.matrices.itemIds.map((id, column) => [id, column]));
    return this.#itemColumn.get(externalId);
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

/**
 * Reads a dataset's index from the database: its matrices (through `loadMatrices`, at one version)
 * and its ingest options; `previous`, an index of an older version, lends its row stamps.
 */
export async function loadDatasetIndex(options: {
  dataSource: DataSource;
  datasetId: number;
  loadMatrices: (datasetId: number) => Promise<DatasetMatrices>;
  previous?: DatasetIndex;
}): Promise<DatasetIndex> {
  const { dataSource, datasetId } = options;
  const matrices = await options.loadMatrices(datasetId);
  const stopWords = stopWordSet(stopWordLanguages(await datasetOptionsJson(dataSource, datasetId)));
  return new DatasetIndex({
    matrices,
    stopWords,
    loadItemWordStats: (index) => countItemWords({ dataSource, datasetId, index }),
    previous: options.previous,
  });
}

/**
 * The index of a dataset's current version, read from `previous` and what the appends since changed:
 * the users whose counters moved (their training clicks and bags of words are read again), the users
 * and items added. A dataset of tens of thousands of users follows an append in milliseconds, not the
 * seconds of a whole read. Reads that an append overtook (the version moved meanwhile) are made
 * again; after MAX_FOLLOW_ATTEMPTS the whole dataset is read (loadDatasetIndex).
 */
export async function followDatasetIndex(options: {
  dataSource: DataSource;
  previous: DatasetIndex;
  loadMatrices: (datasetId: number) => Promise<DatasetMatrices>;
}): Promise<DatasetIndex> {
  const { dataSource, previous } = options;
  const datasetId = previous.matrices.datasetId;
  for (let attempt = 1; attempt <= MAX_FOLLOW_ATTEMPTS; attempt += 1) {
    const version = await datasetVersionOf(dataSource, datasetId);
    if (version === undefined) break;
    if (version === previous.version) return previous;
    const { matrices, changes } = await grownMatrices({ dataSource, old: previous.matrices, version });
    if ((await datasetVersionOf(dataSource, datasetId)) !== version) continue;
    return new DatasetIndex({
      matrices,
      stopWords: previous.stopWords,
      loadItemWordStats: (index) => countItemWords({ dataSource, datasetId, index }),
      previous,
      changes,
    });
  }
  return loadDatasetIndex({ dataSource, datasetId, loadMatrices: options.loadMatrices, previous });
}

/** The matrices of `version`: `old` with the rows of the users whose counters moved read again, and the new users and items. */
async function grownMatrices(options: {
  dataSource: DataSource;
  old: DatasetMatrices;
  version: number;
}): Promise<{ matrices: DatasetMatrices; changes: { rows: number[]; words: boolean } }> {
  const { dataSource, old } = options;
  const datasetId = old.datasetId;
  const counters = await userCounters(dataSource, datasetId);
  const rows = counters.trainClicks.length;
  const changed: number[] = [];
  for (let row = 0; row < rows; row += 1) {
    const moved = row >= old.train.rows || counters.trainClicks[row] !== old.train.indptr[row + 1] - old.train.indptr[row] || counters.words[row] !== rowSum(old.words, row);
    if (moved) changed.push(row);
  }
  const newItems = await itemIdsFrom(dataSource, { datasetId, from: old.itemIds.length });
  const cols = old.itemIds.length + newItems.length;
  const read = await userRowsOf(dataSource, { datasetId, rows: changed });
  const clicks = new Map([...read.train].map(([row, columns]) => [row, { indices: Int32Array.from(columns), values: new Float32Array(columns.length).fill(1) }]));
  const words = new Map(changed.map((row) => [row, read.words.get(row) ?? { indices: new Int32Array(0), values: new Float32Array(0) }]));
  const matrices: DatasetMatrices = {
    ...old,
    version: options.version,
    train: withRows(old.train, { rows, cols, replaced: clicks }),
    validation: withRows(old.validation, { rows, cols, replaced: new Map() }),
    test: withRows(old.test, { rows, cols, replaced: new Map() }),
    words: withRows(old.words, { rows, cols: old.words.cols, replaced: words }),
    userIds: counters.externalIds,
    itemIds: newItems.length === 0 ? old.itemIds : [...old.itemIds, ...newItems],
  };
  const wordsChanged = changed.some((row) => (row < old.words.rows ? !sameRow(old.words, matrices.words, row) : matrices.words.indptr[row + 1] > matrices.words.indptr[row]));
  return { matrices, changes: { rows: changed, words: wordsChanged } };
}

function rowSum(matrix: CsrMatrix, row: number): number {
  let sum = 0;
  for (let j = matrix.indptr[row]; j < matrix.indptr[row + 1]; j += 1) sum += matrix.values[j];
  return sum;
}

/** `matrix` grown to `rows` × `cols` (new rows empty) with the `replaced` rows' entries in place of theirs. */
function withRows(
  matrix: CsrMatrix,
  o: { rows: number; cols: number; replaced: ReadonlyMap<number, { readonly indices: Int32Array; readonly values: Float32Array }> },
): CsrMatrix {
  if (o.replaced.size === 0 && o.rows === matrix.rows && o.cols === matrix.cols) return matrix;
  const lengthOf = (row: number): number => o.replaced.get(row)?.indices.length ?? (row < matrix.rows ? matrix.indptr[row + 1] - matrix.indptr[row] : 0);
  const indptr = new Int32Array(o.rows + 1);
  for (let row = 0; row < o.rows; row += 1) indptr[row + 1] = indptr[row] + lengthOf(row);
  const indices = new Int32Array(indptr[o.rows]);
  const values = new Float32Array(indptr[o.rows]);
  for (let row = 0; row < o.rows; row += 1) {
    const own = o.replaced.get(row);
    if (own !== undefined) {
      indices.set(own.indices, indptr[row]);
      values.set(own.values, indptr[row]);
    } else if (row < matrix.rows) {
      indices.set(matrix.indices.subarray(matrix.indptr[row], matrix.indptr[row + 1]), indptr[row]);
      values.set(matrix.values.subarray(matrix.indptr[row], matrix.indptr[row + 1]), indptr[row]);
    }
  }
  return { rows: o.rows, cols: o.cols, indptr, indices, values };
}

/**
 * Each row's stamp: the previous index's for a row whose clicks (all splits) and words are unchanged,
 * this version for a changed or new row.
 */
function rowStamps(options: { matrices: DatasetMatrices; version: number; previous: DatasetIndex | undefined; changed: ReadonlyArray<number> | undefined }): Int32Array {
  const { matrices, version, previous } = options;
  const stamps = new Int32Array(matrices.train.rows).fill(version);
  if (previous === undefined) return stamps;
  const old = previous.matrices;
  const kept = Math.min(old.train.rows, matrices.train.rows);
  if (options.changed !== undefined) {
    const changed = new Set(options.changed);
    for (let row = 0; row < kept; row += 1) {
      if (!changed.has(row) || (["train", "words"] as const).every((m) => sameRow(old[m], matrices[m], row))) stamps[row] = previous.rowStamp(row) ?? version;
    }
    return stamps;
  }
  for (let row = 0; row < kept; row += 1) {
    const same = (["train", "validation", "test", "words"] as const).every((m) => sameRow(old[m], matrices[m], row));
    if (same) stamps[row] = previous.rowStamp(row) ?? version;
  }
  return stamps;
}

function sameRow(a: CsrMatrix, b: CsrMatrix, row: number): boolean {
  const start = a.indptr[row];
  const length = a.indptr[row + 1] - start;
  const other = b.indptr[row];
  if (b.indptr[row + 1] - other !== length) return false;
  for (let j = 0; j < length; j += 1) {
    if (a.indices[start + j] !== b.indices[other + j] || a.values[start + j] !== b.values[other + j]) return false;
  }
  return true;
}

/** Whether `b` holds `a`'s rows unchanged, and only empty rows after them (users added without words). */
function sameEntries(a: CsrMatrix, b: CsrMatrix): boolean {
  if (b.rows < a.rows || a.cols !== b.cols) return false;
  for (let row = 0; row < a.rows; row += 1) if (!sameRow(a, b, row)) return false;
  return b.indptr[b.rows] === a.indptr[a.rows];
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
