/**
 * The shapes a dataset takes on its way through the layers: a review as a parser reads it, the
 * preprocessed dataset an ingest stores, and the matrices that are loaded back for the engine. Plain
 * data without behaviour, so the parsers (src/data), the storage (src/db) and the engine share them
 * without depending on one another.
 */

/** The part of a record source (src/data/source.ts) that is stored with its dataset. */
export interface StoredSource {
  /** Stored as the dataset's source. */
  readonly kind: "amazon" | "yelp" | "tsv" | "generated";
}

/** One review or other user text as a parser reads it, before any preprocessing. */
export interface RawReview {
  readonly user: string;
  /** Null for text that belongs to the user but to no item (tsv texts with an empty item). */
  readonly item: string | null;
  /** Null when the source gives no rating (then an interaction counts as a click). */
  readonly rating: number | null;
  readonly text: string;
  readonly summary: string | null;
  /** Unix time in seconds, or null. */
  readonly time: number | null;
}

/** Split codes stored per click. */
export const SPLIT_TRAIN = 0;
export const SPLIT_VALIDATION = 1;
export const SPLIT_TEST = 2;
export const SPLIT_NAMES = ["train", "validation", "test"] as const;

/** A corpus after the paper's preprocessing: ready to store and to turn into matrices. */
export interface PreprocessedDataset {
  /** External user ids by row (sorted, so rows do not depend on file order). */
  readonly userNames: ReadonlyArray<string>;
  /** External item ids by column (sorted). */
  readonly itemNames: ReadonlyArray<string>;
  /** Clicks grouped by row: row r's items are clickCols[clickIndptr[r] .. clickIndptr[r + 1]), ascending. */
  readonly clickIndptr: Int32Array;
  readonly clickCols: Int32Array;
  /** SPLIT_TRAIN / SPLIT_VALIDATION / SPLIT_TEST of each click. */
  readonly clickSplit: Uint8Array;
  /** Bag of words per user (counts), built from texts not attached to the user's validation/test items. */
  readonly words: CsrMatrix;
  readonly vocabulary: ReadonlyArray<string>;
  /** Occurrences of each vocabulary word in the bag-of-words texts. */
  readonly vocabularyCounts: Int32Array;
  /** Users whose bag contains each vocabulary word. */
  readonly documentFrequency: Int32Array;
  /** Per review (reading order): the user's row, or −1 when the user was filtered out. */
  readonly reviewRow: Int32Array;
  /** Per review: the item's column, or −1 when there is no item or it was filtered out. */
  readonly reviewCol: Int32Array;
  /** Reviews kept per row. */
  readonly userReviewCounts: Int32Array;
  /** Clicks per column over all splits, and in training only. */
  readonly itemClickCounts: Int32Array;
  readonly itemTrainClickCounts: Int32Array;
  readonly counts: { readonly train: number; readonly validation: number; readonly test: number; readonly reviews: number };
}

/**
 * Compressed sparse row matrices: the only shape in which data reaches the engine. Plain typed arrays,
 * no TypeORM, so the engine stays testable and swappable.
 */
export interface CsrMatrix {
  /** Number of rows (users). */
  readonly rows: number;
  /** Number of columns (items or words). */
  readonly cols: number;
  /** Row r's entries are indices[indptr[r] .. indptr[r + 1]); length rows + 1. */
  readonly indptr: Int32Array;
  /** Column index of each stored entry, ascending within a row. */
  readonly indices: Int32Array;
  /** Value of each stored entry (1 for a click, a count for a word). */
  readonly values: Float32Array;
}

/** One ingested dataset as the engine reads it: split click matrices, bag of words and the id maps. */
export interface DatasetMatrices {
  /** Database id of the dataset. */
  readonly datasetId: number;
  /** Name given at ingest. */
  readonly name: string;
  /** The dataset's version these matrices hold (1 after the ingest, one more per append that added something). */
  readonly version: number;
  /** Training clicks, users × items. */
  readonly train: CsrMatrix;
  /** Validation clicks, users × items. */
  readonly validation: CsrMatrix;
  /** Test clicks, users × items. */
  readonly test: CsrMatrix;
  /** Bag of words per user (counts), users × vocabulary; built without validation/test texts. */
  readonly words: CsrMatrix;
  /** Row r ↔ external user id. */
  readonly userIds: ReadonlyArray<string>;
  /** Column c ↔ external item id. */
  readonly itemIds: ReadonlyArray<string>;
  /** Column c ↔ word. */
  readonly vocabulary: ReadonlyArray<string>;
}
