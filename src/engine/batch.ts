/**
 * Turns rows of a CSR matrix into the index arrays the sparse layers and the sparse multinomial
 * likelihood consume, so no dense users × items matrix is ever built for the inputs.
 */
import type { CsrMatrix } from "../data/csr.ts";
import { invariant } from "../errors.ts";
import type { Rng } from "./random.ts";

/** A batch of sparse rows as flat arrays (entries ordered by row, so `seg` is sorted). */
export interface SparseBatch {
  /** Number of rows in the batch (some may be empty). */
  readonly rows: number;
  /** Column of each kept entry. */
  readonly idx: Int32Array;
  /** Batch row of each kept entry, ascending. */
  readonly seg: Int32Array;
  /** Value of each kept entry after normalisation (and dropout scaling). */
  readonly vals: Float32Array;
  /** Per-row factor when every kept entry of a row has the same value (binary clicks), else undefined. */
  readonly rowScale: Float32Array | undefined;
  /** Sum of the raw values of each row (the multinomial's number of draws). */
  readonly rowSum: Float32Array;
}

/**
 * Reads `rows` of `matrix`, L2-normalises each row (Mult-VAE's input), then drops each entry with
 * probability `dropout` and scales the kept ones by 1 / (1 − dropout), as inverted dropout does.
 */
export function sparseBatch(options: {
  matrix: CsrMatrix;
  rows: ArrayLike<number>;
  dropout?: number;
  rng?: Rng;
  normalise?: boolean;
}): SparseBatch {
  const { matrix, rows } = options;
  const dropout = options.dropout ?? 0;
  const normalise = options.normalise ?? true;
  invariant(dropout === 0 || options.rng !== undefined, "dropout needs a seeded generator");
  let capacity = 0;
  for (let b = 0; b < rows.length; b += 1) {
    const r = rows[b];
    invariant(Number.isInteger(r) && r >= 0 && r < matrix.rows, `row ${r} is outside 0..${matrix.rows - 1}`);
    capacity += matrix.indptr[r + 1] - matrix.indptr[r];
  }
  const idx = new Int32Array(capacity);
  const seg = new Int32Array(capacity);
  const vals = new Float32Array(capacity);
  const rowScale = new Float32Array(rows.length);
  const rowSum = new Float32Array(rows.length);
  let uniform = true;
  let n = 0;
  const keepScale = 1 / (1 - dropout);
  for (let b = 0; b < rows.length; b += 1) {
    const r = rows[b];
    const start = matrix.indptr[r];
    const end = matrix.indptr[r + 1];
    let sq = 0;
    let sum = 0;
    for (let k = start; k < end; k += 1) {
      sq += matrix.values[k] * matrix.values[k];
      sum += matrix.values[k];
    }
    rowSum[b] = sum;
    const norm = normalise && sq > 0 ? 1 / Math.sqrt(sq) : 1;
    const scale = norm * (dropout > 0 ? keepScale : 1);
    if (end > start) rowScale[b] = matrix.values[start] * scale;
    for (let k = start; k < end; k += 1) {
      if (dropout > 0 && options.rng!.next() < dropout) continue;
      if (matrix.values[k] !== matrix.values[start]) uniform = false;
      idx[n] = matrix.indices[k];
      seg[n] = b;
      vals[n] = matrix.values[k] * scale;
      n += 1;
    }
  }
  return {
    rows: rows.length,
    idx: idx.subarray(0, n),
    seg: seg.subarray(0, n),
    vals: vals.subarray(0, n),
    rowScale: uniform ? rowScale : undefined,
    rowSum,
  };
}
