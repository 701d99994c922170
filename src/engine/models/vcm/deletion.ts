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
import { ITEM_BLOCK_ITEMS } from "../../running-top-k.ts";
import { decode, encodeMeanWithout } from "./vae.ts";

/** One (user, item) pair and the columns of the user's row whose deletion effect is wanted. */
export interface ColumnDeletionRequest {
  /** Row of the user in `matrix`. */
  readonly row: number;
  /** Column of the item whose score is watched. */
  readonly item: number;
  /** Columns of the row to delete one at a time (a column outside the row has no effect and gets 0). */
  readonly columns: ArrayLike<number>;
}

/**
 * Most rows per forward pass: sgemm reaches ≈ 225 GFLOP/s at 512 rows against ≈ 185 at 256 (Yelp shape,
 * 2 cores), and a chunk's logits stay ≈ 26 MB. A call's rows are split into equal chunks under this, since
 * a small last chunk reads the whole output layer for few rows (512 + 28 rows cost 6 % more than 540 at once).
 */
export const DELETION_ROWS_PER_CHUNK = 640;

/**
 * DELETION_ROWS_PER_CHUNK, fewer past one item block (running-top-k.ts) so a chunk's logits stay within
 * DELETION_ROWS_PER_CHUNK × ITEM_BLOCK_ITEMS numbers (80 MiB) however large the catalogue.
 */
function maxRowsPerChunk(params: Params): number {
  const items = params.get("x.out.b")?.shape[0] ?? 0;
  return Math.max(1, Math.min(DELETION_ROWS_PER_CHUNK, Math.floor((DELETION_ROWS_PER_CHUNK * ITEM_BLOCK_ITEMS) / Math.max(1, items))));
}

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
  const chunkRows = Math.max(1, Math.ceil(variants.length / Math.max(1, Math.ceil(variants.length / maxRowsPerChunk(params)))));
  const readsByChunk: number[][] = Array.from({ length: Math.ceil(variants.length / chunkRows) }, () => []);
  reads.forEach((read, n) => readsByChunk[Math.floor(read.variant / chunkRows)].push(n));
  for (let start = 0; start < variants.length; start += chunkRows) {
    const chunk = variants.slice(start, start + chunkRows);
    const rows = deletionRows(matrix, chunk);
    const wanted = readsByChunk[start / chunkRows];
    const positions = new Int32Array(2 * wanted.length);
    wanted.forEach((n, m) => {
      positions[2 * m] = reads[n].variant - start;
      positions[2 * m + 1] = reads[n].item;
    });
    // log π_ui = l_ui − log Σ_j exp(l_uj): only the items read and one log-sum-exp per row leave the engine.
    const [picked, lse] = tf.tidy(() => {
      const input = sparseBatchTensors(sparseBatch({ matrix, rows: rows.users }), matrix.cols);
      const mu = encodeMeanWithout({ params, side, input, ...rows });
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

/**
 * The chunk's rows for encodeMeanWithout: its distinct users (rows of `matrix`) and, per deleted row,
 * which of them it is, the deleted column, and the scale and weight that remove the column from the
 * user's normalised first layer (sparseBatch L2-normalises each row).
 */
function deletionRows(
  matrix: CsrMatrix,
  variants: ReadonlyArray<{ row: number; without: number }>,
): { users: number[]; user: Int32Array; column: Int32Array; scale: Float32Array; weight: Float32Array } {
  const userIndex = new Map<number, number>();
  const users: number[] = [];
  const user = new Int32Array(variants.length);
  const column = new Int32Array(variants.length);
  const scale = new Float32Array(variants.length);
  const weight = new Float32Array(variants.length);
  variants.forEach((v, r) => {
    let u = userIndex.get(v.row);
    if (u === undefined) {
      u = users.length;
      users.push(v.row);
      userIndex.set(v.row, u);
    }
    user[r] = u;
    let squares = 0;
    let deleted = 0;
    for (let q = matrix.indptr[v.row]; q < matrix.indptr[v.row + 1]; q += 1) {
      squares += matrix.values[q] * matrix.values[q];
      if (matrix.indices[q] === v.without) deleted = matrix.values[q];
    }
    const rest = Math.sqrt(Math.max(0, squares - deleted * deleted));
    column[r] = Math.max(0, v.without);
    if (v.without < 0 || deleted === 0) scale[r] = 1;
    else if (rest > 0) {
      scale[r] = Math.sqrt(squares) / rest;
      weight[r] = deleted / rest;
    }
  });
  return { users, user, column, scale, weight };
}
