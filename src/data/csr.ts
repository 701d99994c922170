/**
 * Compressed sparse row matrices: the only shape in which data crosses from the data layer to the
 * engine. Plain typed arrays, no TypeORM, so the engine stays testable and swappable.
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

/** Builds a CSR matrix from per-row sorted (column, value) lists. */
export function csrFromRows(options: {
  cols: number;
  rows: ReadonlyArray<ReadonlyArray<readonly [number, number]>>;
}): CsrMatrix {
  const { cols, rows } = options;
  const indptr = new Int32Array(rows.length + 1);
  let nnz = 0;
  rows.forEach((row, r) => {
    nnz += row.length;
    indptr[r + 1] = nnz;
  });
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (const row of rows) {
    const sorted = [...row].sort((a, b) => a[0] - b[0]);
    for (const [c, v] of sorted) {
      if (c < 0 || c >= cols) throw new RangeError(`column ${c} is outside 0..${cols - 1}`);
      indices[k] = c;
      values[k] = v;
      k += 1;
    }
  }
  return { rows: rows.length, cols, indptr, indices, values };
}

/** Number of stored entries in row r. */
export function rowLength(m: CsrMatrix, r: number): number {
  return m.indptr[r + 1] - m.indptr[r];
}
