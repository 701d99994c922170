/**
 * Exact deletion effects on VAEx's item scores, the one forward-pass machinery behind both kinds of
 * reason: a word leaving a user's bag of words y_u (VCM-CD, review2click, word-effects.ts) and a click
 * leaving the user's history x_u (VCM, click-effects.ts). For a user's input row and a column j of it,
 * δ(j) = 1 − π_ui(row ∖ j) / π_ui(row) with π_u = softmax(VAEx decoder(μ(row / ‖row‖))) (docs/model.md §1).
 * A row minus j serves every item asked about for that user, so each user costs one forward pass per
 * distinct column asked for, plus one for the whole row; the rows of all users of a call go through
 * the encoder and decoder together, in chunks, as large matrix products.
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import type { Side } from "../../types.ts";
import { sparseBatch } from "../../batch.ts";
import { logSumExpRows, sparseBatchTensors } from "../../runtime/index.ts";
import type { Params } from "../params.ts";
import { decode, encode } from "./vae.ts";

/** One (user, item) pair and the columns of the user's row whose deletion effect is wanted. */
export interface ColumnDeletionRequest {
  /** Row of the user in `matrix`. */
  readonly row: number;
  /** Column of the item whose score is watched. */
  readonly item: number;
  /** Columns of the row to delete one at a time (a column outside the row has no effect and gets 0). */
  readonly columns: ArrayLike<number>;
}

/** Rows per forward pass: sgemm reaches ≈ 225 GFLOP/s at 512 rows against ≈ 185 at 256 (Yelp shape, 2 cores), and a chunk's logits stay ≈ 20 MB. */
const ROWS_PER_CHUNK = 512;

/**
 * δ(j) of each column of each request, one Float32Array per request aligned with its `columns`; the
 * row is encoded by side `side` (x: clicks, y: words) and always decoded by VAEx into item scores.
 */
export async function exactDeletionEffects(o: { params: Params; side: Side; matrix: CsrMatrix; requests: ReadonlyArray<ColumnDeletionRequest> }): Promise<Float32Array[]> {
  const { params, side, matrix, requests } = o;
  const out = requests.map((r) => new Float32Array(r.columns.length));
  // Rows to score: per user, the whole row and the row minus each column asked for.
  const variantRow = new Map<string, number>();
  const variants: Array<{ row: number; without: number }> = [];
  const variantOf = (row: number, without: number): number => {
    const key = `${row}|${without}`;
    let index = variantRow.get(key);
    if (index === undefined) {
      index = variants.length;
      variants.push({ row, without });
      variantRow.set(key, index);
    }
    return index;
  };
  // (variant, item) entries to read: the whole row's, then each column's.
  const reads: Array<{ request: number; slot: number; variant: number; item: number }> = [];
  requests.forEach((r, j) => {
    const present = new Set(matrix.indices.subarray(matrix.indptr[r.row], matrix.indptr[r.row + 1]));
    reads.push({ request: j, slot: -1, variant: variantOf(r.row, -1), item: r.item });
    for (let t = 0; t < r.columns.length; t += 1) {
      if (present.has(r.columns[t])) reads.push({ request: j, slot: t, variant: variantOf(r.row, r.columns[t]), item: r.item });
    }
  });
  const logScore = new Float64Array(reads.length);
  const readsByChunk: number[][] = Array.from({ length: Math.ceil(variants.length / ROWS_PER_CHUNK) }, () => []);
  reads.forEach((read, n) => readsByChunk[Math.floor(read.variant / ROWS_PER_CHUNK)].push(n));
  for (let start = 0; start < variants.length; start += ROWS_PER_CHUNK) {
    const chunk = variants.slice(start, start + ROWS_PER_CHUNK);
    const rows = deletedRows(matrix, chunk);
    const wanted = readsByChunk[start / ROWS_PER_CHUNK];
    const positions = new Int32Array(2 * wanted.length);
    wanted.forEach((n, m) => {
      positions[2 * m] = reads[n].variant - start;
      positions[2 * m + 1] = reads[n].item;
    });
    // log π_ui = l_ui − log Σ_j exp(l_uj): only the items read and one log-sum-exp per row leave the engine.
    const [picked, lse] = tf.tidy(() => {
      const input = sparseBatchTensors(sparseBatch({ matrix: rows, rows: chunk.map((_, i) => i) }), matrix.cols);
      const { mu } = encode({ params, side, input });
      const logits = decode({ params, side: "x", z: mu });
      return [tf.gatherND(logits, tf.tensor2d(positions, [wanted.length, 2], "int32")), logSumExpRows(logits)];
    });
    let values: Float32Array;
    let normaliser: Float32Array;
    try {
      values = (await picked.data()) as Float32Array;
      normaliser = (await lse.data()) as Float32Array;
    } finally {
      tf.dispose([picked, lse]);
    }
    wanted.forEach((n, m) => (logScore[n] = values[m] - normaliser[reads[n].variant - start]));
  }
  // Reads of one request are consecutive, its whole row's first.
  let full = 0;
  reads.forEach((read, n) => {
    if (read.slot < 0) full = logScore[n];
    else out[read.request][read.slot] = 1 - Math.exp(logScore[n] - full);
  });
  return out;
}

/** The chunk's rows as CSR rows: a user's row, without one of its columns where `without` ≥ 0. */
function deletedRows(matrix: CsrMatrix, variants: ReadonlyArray<{ row: number; without: number }>): CsrMatrix {
  const indptr = new Int32Array(variants.length + 1);
  variants.forEach((b, i) => (indptr[i + 1] = indptr[i] + matrix.indptr[b.row + 1] - matrix.indptr[b.row] - (b.without >= 0 ? 1 : 0)));
  const indices = new Int32Array(indptr[variants.length]);
  const values = new Float32Array(indptr[variants.length]);
  variants.forEach((b, i) => {
    let n = indptr[i];
    for (let p = matrix.indptr[b.row]; p < matrix.indptr[b.row + 1]; p += 1) {
      if (matrix.indices[p] === b.without) continue;
      indices[n] = matrix.indices[p];
      values[n] = matrix.values[p];
      n += 1;
    }
  });
  return { rows: variants.length, cols: matrix.cols, indptr, indices, values };
}
