/** What a metadata file holds per item and what its readers take: shared by readItemMetadata and each format's reader. */
import type { SkipCounter } from "../skips.ts";

/** One item's metadata as a source gives it. */
export interface ItemMetadata {
  /** The item id as the reviews name it: asin, parent_asin (2023), business_id, or the first TSV column. */
  readonly externalId: string;
  /** HTML entities decoded and trimmed; null when absent or empty. */
  readonly title: string | null;
  /** Flattened, trimmed, de-duplicated in first-seen order, empty ones dropped. */
  readonly categories: ReadonlyArray<string>;
  /** Other useful fields with a value (brand, price, main_cat, city, state…; TSV: every other column, as strings). */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** The metadata layouts readItemMetadata reads. */
export type MetadataFormat = "amazon" | "yelp" | "tsv";

/** What readItemMetadata reads and where it reports. */
export interface ReadItemMetadataOptions {
  /** Path of the metadata file, plain or gzipped (told from its content). */
  readonly file: string;
  /** amazon: 2014 Python-literal lines, 2018 or 2023 JSON lines; yelp: business.json; tsv: header + rows. */
  readonly format: MetadataFormat;
  /** Counts each malformed record under its reason with its line number. */
  readonly skips: SkipCounter;
  /** Receives every accepted item with its 1-based line number, in file order. */
  readonly onItem: (item: ItemMetadata, line: number) => void;
  /** Bytes of the file on disk read so far, and its size. */
  readonly onBytes?: (done: number, total: number) => void;
  /** What the rows are (default items): a users TSV may name its first column "user". */
  readonly rows?: "items" | "users";
}

/** The options a reader of one format takes. */
export type FormatReaderOptions = Omit<ReadItemMetadataOptions, "format">;
