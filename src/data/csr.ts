/** Builders of compressed sparse row matrices (the shape itself is declared in src/dataset-shapes.ts). */
import type { CsrMatrix } from "../dataset-shapes.ts";

export type { CsrMatrix, DatasetMatrices } from "../dataset-shapes.ts";

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

/** The matrix with only its first `cols` columns (entries of later columns dropped); the matrix itself when it has no more. */
export function firstColumns(matrix: CsrMatrix, cols: number): CsrMatrix {
  if (cols >= matrix.cols) return matrix;
  const indptr = new Int32Array(matrix.rows + 1);
  let kept = 0;
  for (let row = 0; row < matrix.rows; row += 1) {
    for (let j = matrix.indptr[row]; j < matrix.indptr[row + 1]; j += 1) if (matrix.indices[j] < cols) kept += 1;
    indptr[row + 1] = kept;
  }
  const indices = new Int32Array(kept);
  const values = new Float32Array(kept);
  let k = 0;
  for (let j = 0; j < matrix.indices.length; j += 1) {
    if (matrix.indices[j] >= cols) continue;
    indices[k] = matrix.indices[j];
    values[k] = matrix.values[j];
    k += 1;
  }
  return { rows: matrix.rows, cols, indptr, indices, values };
}
