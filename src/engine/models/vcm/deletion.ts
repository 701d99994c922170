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
import { bf16DeletionsAvailable, deltaLogSoftmax, logSumExpRows, sparseBatchTensors, type PackedLayer } from "../../runtime/index.ts";
import type { Params } from "../params.ts";
import { ITEM_BLOCK_ITEMS } from "../../running-top-k.ts";
import { decode, decodeHidden, encodeMeanWithout, outputLayer } from "./vae.ts";

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

/** The requests of one input side: rows of `matrix` encoded by side `side` (x: clicks, y: words). */
export interface DeletionGroup {
  readonly side: Side;
  readonly matrix: CsrMatrix;
  readonly requests: ReadonlyArray<ColumnDeletionRequest>;
}

/**
 * δ(j) of each column of each request, one Float32Array per request aligned with its `columns`; the
 * row is encoded by side `side` (x: clicks, y: words) and always decoded by VAEx into item scores.
 */
export async function exactDeletionEffects(o: {
  params: Params;
  side: Side;
  matrix: CsrMatrix;
  requests: ReadonlyArray<ColumnDeletionRequest>;
  packed?: PackedLayer;
}): Promise<Float32Array[]> {
  const [effects] = await groupedDeletionEffects({ params: o.params, packed: o.packed, groups: [{ side: o.side, matrix: o.matrix, requests: o.requests }] });
  return effects;
}

/**
 * exactDeletionEffects for several groups at once, one array of answers per group: every group's rows
 * are encoded by their own side and decoded together, so the click and word deletions of a call share
 * VAEx's output-layer products: a pass reads the whole 600 × items layer however few its rows (≈ 6 ms CPU
 * for 7 or 14 rows at the Yelp shape), so a group's few rows cost least inside another group's pass.
 * With `packed` (VAEx's output layer packed for AMX bfloat16 tiles by a model whose weights no longer
 * change: runtime packLayer) and the tiles available, the rows are decoded on them (bf16Chunk).
 */
export async function groupedDeletionEffects(o: { params: Params; groups: ReadonlyArray<DeletionGroup>; packed?: PackedLayer }): Promise<Float32Array[][]> {
  const { params, groups, packed } = o;
  const out = groups.map((g) => g.requests.map((r) => new Float32Array(r.columns.length)));
  // Rows to score, a group's together: per user, the whole row and the row minus each column asked for.
  const variants: Variant[] = [];
  // (variant, item) entries to read: per request, the whole row's, then each column's.
  const reads: Array<{ group: number; request: number; slot: number; variant: number; item: number }> = [];
  groups.forEach((g, group) => {
    const { matrix } = g;
    // Variants of this group by row, then by deleted column (−1: none).
    const variantRow = new Map<number, Map<number, number>>();
    const variantOf = (row: number, without: number): number => {
      let ofRow = variantRow.get(row);
      if (ofRow === undefined) {
        ofRow = new Map();
        variantRow.set(row, ofRow);
      }
      let index = ofRow.get(without);
      if (index === undefined) {
        index = variants.length;
        // A row's whole variant is asked for before any of its deletions (below).
        variants.push({ group, row, without, whole: without < 0 ? index : ofRow.get(-1)! });
        ofRow.set(without, index);
      }
      return index;
    };
    // The columns of each row, made once for the row's requests (a user's items share them).
    const columnsOf = new Map<number, Set<number>>();
    g.requests.forEach((r, j) => {
      let present = columnsOf.get(r.row);
      if (present === undefined) {
        present = new Set(matrix.indices.subarray(matrix.indptr[r.row], matrix.indptr[r.row + 1]));
        columnsOf.set(r.row, present);
      }
      reads.push({ group, request: j, slot: -1, variant: variantOf(r.row, -1), item: r.item });
      for (let t = 0; t < r.columns.length; t += 1) {
        if (present.has(r.columns[t])) reads.push({ group, request: j, slot: t, variant: variantOf(r.row, r.columns[t]), item: r.item });
      }
    });
  });
  const logScore = new Float64Array(reads.length);
  const bf16 = packed !== undefined && bf16DeletionsAvailable();
  const chunkRows = Math.max(1, Math.ceil(variants.length / Math.max(1, Math.ceil(variants.length / maxRowsPerChunk(params)))));
  const readsByChunk: number[][] = Array.from({ length: Math.ceil(variants.length / chunkRows) }, () => []);
  reads.forEach((read, n) => readsByChunk[Math.floor(read.variant / chunkRows)].push(n));
  for (let start = 0; start < variants.length; start += chunkRows) {
    const end = Math.min(variants.length, start + chunkRows);
    // The chunk's rows: its variants, then (bfloat16 path) the whole rows of its deletions that another chunk holds.
    const rows: number[] = [];
    for (let v = start; v < end; v += 1) rows.push(v);
    if (bf16) {
      const extra = new Set<number>();
      for (let v = start; v < end; v += 1) if (variants[v].whole < start) extra.add(variants[v].whole);
      rows.push(...extra);
    }
    const wanted = readsByChunk[start / chunkRows];
    // log π_ui = l_ui − log Σ_j exp(l_uj): only the items read and one log-sum-exp per row leave the engine.
    const chunk: Chunk = { params, groups, variants, rows, reads, wanted, start };
    const { values, normaliser } = bf16 ? bf16Chunk(chunk, packed) : await float32Chunk(chunk);
    wanted.forEach((n, m) => (logScore[n] = values[m] - normaliser[reads[n].variant - start]));
  }
  // Reads of one request are consecutive, its whole row's first.
  let full = 0;
  reads.forEach((read, n) => {
    if (read.slot < 0) full = logScore[n];
    else out[read.group][read.request][read.slot] = 1 - Math.exp(logScore[n] - full);
  });
  return out;
}

/** One row to score: a user's row of a group's matrix, whole (without −1) or minus a column; `whole` is the variant of the whole row. */
interface Variant {
  readonly group: number;
  readonly row: number;
  readonly without: number;
  readonly whole: number;
}

/** What one chunk scores: its rows (variant indices; the chunk's own first, from `start`) and the reads it answers. */
interface Chunk {
  readonly params: Params;
  readonly groups: ReadonlyArray<DeletionGroup>;
  readonly variants: ReadonlyArray<Variant>;
  readonly rows: ReadonlyArray<number>;
  readonly reads: ReadonlyArray<{ variant: number; item: number }>;
  readonly wanted: ReadonlyArray<number>;
  readonly start: number;
}

/** The codes μ of the chunk's rows, in `rows` order, each run of one group encoded by its side. */
function chunkCodes(o: Chunk): tf.Tensor2D {
  const runs: Array<{ group: number; variants: Variant[] }> = [];
  for (const v of o.rows.map((r) => o.variants[r])) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.group === v.group) last.variants.push(v);
    else runs.push({ group: v.group, variants: [v] });
  }
  const codes = runs.map((run) => {
    const { side, matrix } = o.groups[run.group];
    const rows = deletionRows(matrix, run.variants);
    const input = sparseBatchTensors(sparseBatch({ matrix, rows: rows.users }), matrix.cols);
    return encodeMeanWithout({ params: o.params, side, input, ...rows });
  });
  return codes.length === 1 ? codes[0] : tf.concat(codes);
}

/** The chunk's reads (l_ui of each wanted read) and log-sum-exps (per row) from float32 logits. */
async function float32Chunk(o: Chunk): Promise<{ values: Float32Array; normaliser: Float32Array }> {
  const positions = new Int32Array(2 * o.wanted.length);
  o.wanted.forEach((n, m) => {
    positions[2 * m] = o.reads[n].variant - o.start;
    positions[2 * m + 1] = o.reads[n].item;
  });
  const [picked, lse] = tf.tidy(() => {
    const logits = decode({ params: o.params, side: "x", z: chunkCodes(o) });
    return [tf.gatherND(logits, tf.tensor2d(positions, [o.wanted.length, 2], "int32")), logSumExpRows(logits)];
  });
  try {
    return { values: (await picked.data()) as Float32Array, normaliser: (await lse.data()) as Float32Array };
  } finally {
    tf.dispose([picked, lse]);
  }
}

/** float32Chunk on AMX bfloat16 tiles: each deleted row's logits as its whole row's plus the change (runtime bf16-logits.ts). */
function bf16Chunk(o: Chunk, layer: PackedLayer): { values: Float32Array; normaliser: Float32Array } {
  const local = new Map(o.rows.map((v, r) => [v, r]));
  const base = Int32Array.from(o.rows, (v) => local.get(o.variants[v].whole)!);
  const readRows = Int32Array.from(o.wanted, (n) => o.reads[n].variant - o.start);
  const readItems = Int32Array.from(o.wanted, (n) => o.reads[n].item);
  const hidden = tf.tidy(() => decodeHidden({ params: o.params, side: "x", z: chunkCodes(o) }));
  try {
    const { picked, lse } = deltaLogSoftmax({ hidden, layer, bias: outputLayer(o.params, "x").bias, base, readRows, readItems });
    return { values: picked, normaliser: lse };
  } finally {
    hidden.dispose();
  }
}

/**
 * The chunk's rows for encodeMeanWithout: its distinct users (rows of `matrix`) and, per deleted row,
 * which of them it is, the deleted column, and the scale and weight that remove the column from the
 * user's normalised first layer (sparseBatch L2-normalises each row).
 */
function deletionRows(
  matrix: CsrMatrix,
  variants: ReadonlyArray<Pick<Variant, "row" | "without">>,
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
