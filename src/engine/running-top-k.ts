/**
 * Scoring a catalogue in item blocks: the scores of a chunk of users are made one block of items at a
 * time, and each row keeps only its k best items so far (and, for probabilities, a running
 * log-sum-exp), so a pass holds users × block scores, never users × items (docs/architecture.md,
 * "Scoring in item blocks").
 */
import { topK } from "./metrics.ts";

/**
 * Items per block at the most rows a pass takes (evalBatchSize, 512): 2^15, more than any paper shape
 * has (24,628 at most), so those score in one block exactly as a whole row does.
 */
export const ITEM_BLOCK_ITEMS = 32_768;

/** Scores one pass may hold: 512 rows × ITEM_BLOCK_ITEMS (64 MiB of float32). */
export const SCORING_PASS_NUMBERS = 512 * ITEM_BLOCK_ITEMS;

/**
 * Items per block for a pass of `rows` rows: as many as SCORING_PASS_NUMBERS allows, never fewer than
 * ITEM_BLOCK_ITEMS, so a few users (one request's) rank a large catalogue in one block, and every
 * block costs a slice of the output layer only where the pass is large.
 */
export function blockItemsFor(rows: number): number {
  return Math.max(ITEM_BLOCK_ITEMS, Math.floor(SCORING_PASS_NUMBERS / Math.max(1, rows)));
}

/** The item blocks [start, end) of a catalogue of `items`, `size` items each (the last one shorter). */
export function itemBlocks(items: number, size: number = ITEM_BLOCK_ITEMS): Array<{ start: number; end: number }> {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`Invariant failed: an item block holds a positive number of items, not ${size}`);
  const blocks: Array<{ start: number; end: number }> = [];
  for (let start = 0; start < items; start += size) blocks.push({ start, end: Math.min(items, start + size) });
  return blocks;
}

/**
 * The k best items of each row of a chunk, fed block by block in ascending item order, with the tie
 * rule of topK (higher score first, equal scores: lower index first; NaN and excluded items never
 * enter), so the result equals topK over the whole row.
 */
export class RunningTopK {
  readonly rows: number;
  readonly k: number;
  /** rows × k item columns, best first, padded with −1. */
  readonly items: Int32Array;
  /** The scores of `items`, rows × k. */
  readonly scores: Float64Array;
  readonly #count: Int32Array;
  /** Per row, the largest block log-sum-exp seen and Σ exp(lse_b − max) over the blocks offered (the softmax's normaliser). */
  readonly #max: Float64Array;
  readonly #sum: Float64Array;

  constructor(o: { rows: number; k: number }) {
    this.rows = o.rows;
    this.k = Math.max(0, o.k);
    this.items = new Int32Array(o.rows * this.k).fill(-1);
    this.scores = new Float64Array(o.rows * this.k).fill(Number.NaN);
    this.#count = new Int32Array(o.rows);
    this.#max = new Float64Array(o.rows).fill(Number.NEGATIVE_INFINITY);
    this.#sum = new Float64Array(o.rows);
  }

  /**
   * Offers row `row`'s scores of items [offset, offset + scores.length), skipping the items of
   * `exclude` (item columns, a CSR row; those outside the block are ignored), with the block's
   * log Σ exp(score) over all its items when the row's normaliser is wanted (taken where the scores are).
   */
  offer(o: { row: number; scores: Float32Array; offset: number; exclude?: Int32Array; logSumExp?: number }): void {
    const { scores } = o;
    const best = topK({ scores, k: this.k, exclude: o.exclude === undefined ? undefined : excludedInBlock(o.exclude, o.offset, scores.length) });
    this.offerBest({ row: o.row, items: best, scores: Float32Array.from(best, (i) => scores[i]), offset: o.offset, logSumExp: o.logSumExp });
  }

  /**
   * Offers a block's own best items of row `row` (block columns, best first by topK's rule, −1 ends
   * them early) with their scores: what a top k taken where the scores are (runtime/top-k.ts) gives.
   */
  offerBest(o: { row: number; items: Int32Array; scores: Float32Array; offset: number; logSumExp?: number }): void {
    const { row, offset } = o;
    if (o.logSumExp !== undefined) this.#addToNormaliser(row, o.logSumExp);
    const found = o.items.indexOf(-1);
    const count = Math.min(this.k, found === -1 ? o.items.length : found);
    const base = row * this.k;
    const held = this.#count[row];
    const mergedItems = new Int32Array(this.k);
    const mergedScores = new Float64Array(this.k);
    let a = 0;
    let b = 0;
    let n = 0;
    while (n < this.k && (a < held || b < count)) {
      // Every held item precedes the block's, so on equal scores the held one goes first.
      const takeHeld = b >= count || (a < held && this.scores[base + a] >= o.scores[b]);
      if (takeHeld) {
        mergedItems[n] = this.items[base + a];
        mergedScores[n] = this.scores[base + a];
        a += 1;
      } else {
        mergedItems[n] = o.items[b] + offset;
        mergedScores[n] = o.scores[b];
        b += 1;
      }
      n += 1;
    }
    this.items.set(mergedItems.subarray(0, n), base);
    this.scores.set(mergedScores.subarray(0, n), base);
    this.#count[row] = n;
  }

  /** log Σ_i exp(score_i) over every block offered with its logSumExp (−∞ before any). */
  logSumExp(row: number): number {
    return this.#max[row] + Math.log(this.#sum[row]);
  }

  #addToNormaliser(row: number, blockLogSumExp: number): void {
    if (blockLogSumExp === Number.NEGATIVE_INFINITY) return;
    const max = Math.max(this.#max[row], blockLogSumExp);
    this.#sum[row] = this.#sum[row] * Math.exp(this.#max[row] - max) + Math.exp(blockLogSumExp - max);
    this.#max[row] = max;
  }
}

/** The excluded columns inside [offset, offset + length), shifted to the block's own columns (in their given order). */
function excludedInBlock(exclude: Int32Array, offset: number, length: number): Int32Array {
  let inside = 0;
  for (let j = 0; j < exclude.length; j += 1) if (exclude[j] >= offset && exclude[j] < offset + length) inside += 1;
  const shifted = new Int32Array(inside);
  let n = 0;
  for (let j = 0; j < exclude.length; j += 1) if (exclude[j] >= offset && exclude[j] < offset + length) shifted[n++] = exclude[j] - offset;
  return shifted;
}
