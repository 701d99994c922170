/**
 * What the models with trained weights share (VCM in vcm/model.ts, the paper baselines in
 * baselines/model.ts): their state as named tensors, scoring and evaluation's top k in chunks of rows
 * from their ranking logits, the snapshot of their weights, and freeing them (the rest is base-model.ts).
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../data/csr.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { topK } from "../metrics.ts";
import { logSumExpRows, topKOnBackend, topKPlace, type TopKPlace } from "../runtime/index.ts";
import { blockItemsFor, itemBlocks, RunningTopK } from "../running-top-k.ts";
import type { ModelSnapshot, PredictionMode, RankedItems, RowsInput, Side } from "../types.ts";
import { BaseRecommender, type RecommenderState } from "./base-model.ts";
import { weightsOfParams, type ParamSpec, type Params } from "./params.ts";
import { checkMode } from "./recommender.ts";

export interface WeightModelState extends RecommenderState {
  /** Live parameters (shared with the training loop while it runs). */
  readonly params: Params;
}

export abstract class WeightModel extends BaseRecommender<WeightModelState> {

  /** Name and shape of every weight, in checkpoint order. */
  protected abstract specs(): ParamSpec[];
  /** What the ranking logits of a chunk of rows share across item blocks (the caller disposes it). */
  protected abstract rankingHead(matrix: CsrMatrix, rows: ReadonlyArray<number>, mode: PredictionMode): Promise<tf.Tensor2D>;
  /** Ranking logits of items [start, end) from the head, rows × (end − start), whose softmax over all items is the item scores (the caller disposes them). */
  protected abstract rankingBlock(head: tf.Tensor2D, block: { start: number; end: number }): tf.Tensor2D;

  protected async weights(): Promise<ModelSnapshot["weights"]> {
    return weightsOfParams(this.specs(), this.state.params);
  }

  /**
   * Item scores: the softmax over items of the ranking logits (VAEx's decoder on μx(clicks) for mode
   * "vcm", on μy(words) for "vcm-cd"; the baselines' predicted preference), which ranks as they do.
   * The answer is rows × items by contract; rankings use rankItems, which never holds that.
   */
  async scoreItems(input: RowsInput, mode: PredictionMode): Promise<Float32Array> {
    this.assertLive();
    const s = this.state;
    const out = new Float32Array(input.rows.length * s.numItems);
    checkMode(this.variant, mode);
    this.checkInput(input, mode === "vcm" ? "x" : "y");
    await this.inChunks(input, async (rows, offset) => {
      const scores = await this.#scoresOfBlock({ input, rows, mode, block: { start: 0, end: s.numItems }, softmax: true });
      out.set(scores, offset * s.numItems);
    });
    return out;
  }

  /**
   * Items are ranked by the logits, which order a row as its softmax does. A catalogue of one item
   * block (every paper shape) takes its top k where the scores are (runtime/top-k.ts), so only k
   * numbers per row come back; a larger one is scored block by block with a running top k
   * (running-top-k.ts), which gives the same items.
   */
  async topItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude: CsrMatrix; blockItems?: number }): Promise<Int32Array> {
    const { input, mode, exclude } = o;
    this.assertLive();
    const s = this.state;
    const k = Math.min(o.k, s.numItems);
    const out = new Int32Array(input.rows.length * o.k).fill(-1);
    if (exclude.cols !== s.numItems) throw new UserError(ErrorCode.BAD_USER_INPUT, `the excluded clicks must have ${s.numItems} item columns`);
    checkMode(this.variant, mode);
    this.checkInput(input, mode === "vcm" ? "x" : "y");
    const blocks = itemBlocks(s.numItems, o.blockItems ?? blockItemsFor(this.rowsPerPass(input)));
    if (blocks.length > 1) {
      await this.inChunks(input, async (rows, offset) => {
        const running = await this.#rankInBlocks({ input, rows, mode, k, exclude, blocks, normaliser: false });
        rows.forEach((_, b) => out.set(running.items.subarray(b * k, (b + 1) * k), (offset + b) * o.k));
      });
      return out;
    }
    const place = topKPlace();
    await this.inChunks(input, async (rows, offset) => {
      const logits = await this.rankingLogits(input.matrix, rows, mode);
      const result = place === "host" ? logits : topKOnBackend({ place, logits, excluded: excludedEntries(exclude, rows), k });
      if (result !== logits) logits.dispose();
      try {
        const data = await result.data();
        if (place === "host") {
          rows.forEach((r, b) => {
            const ranked = topK({ scores: (data as Float32Array).subarray(b * s.numItems, (b + 1) * s.numItems), k, exclude: rowColumns(exclude, r) });
            out.set(ranked, (offset + b) * o.k);
          });
        } else {
          for (let b = 0; b < rows.length; b += 1) out.set((data as Int32Array).subarray(b * k, (b + 1) * k), (offset + b) * o.k);
        }
      } finally {
        result.dispose();
      }
    });
    return out;
  }

  /**
   * The k best items of each row with their softmax probabilities. One item block: the softmax of
   * the whole row, ranked (what scoreItems and topK give); more: the logits block by block with a
   * running top k and log-sum-exp, each winner's probability exp(l − log Σ exp l) at the end.
   */
  async rankItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude?: CsrMatrix; blockItems?: number }): Promise<RankedItems> {
    const { input, mode } = o;
    this.assertLive();
    const s = this.state;
    const k = Math.max(0, o.k);
    const items = new Int32Array(input.rows.length * k).fill(-1);
    const scores = new Float32Array(input.rows.length * k).fill(Number.NaN);
    if (o.exclude !== undefined && o.exclude.cols !== s.numItems) throw new UserError(ErrorCode.BAD_USER_INPUT, `the excluded clicks must have ${s.numItems} item columns`);
    checkMode(this.variant, mode);
    this.checkInput(input, mode === "vcm" ? "x" : "y");
    const blocks = itemBlocks(s.numItems, o.blockItems ?? blockItemsFor(this.rowsPerPass(input)));
    await this.inChunks(input, async (rows, offset) => {
      if (blocks.length === 1) {
        const probabilities = await this.#scoresOfBlock({ input, rows, mode, block: blocks[0], softmax: true });
        rows.forEach((r, b) => {
          const row = probabilities.subarray(b * s.numItems, (b + 1) * s.numItems);
          const ranked = topK({ scores: row, k, exclude: o.exclude === undefined ? undefined : rowColumns(o.exclude, r) });
          items.set(ranked, (offset + b) * k);
          ranked.forEach((item, j) => (scores[(offset + b) * k + j] = row[item]));
        });
        return;
      }
      const running = await this.#rankInBlocks({ input, rows, mode, k, exclude: o.exclude, blocks, normaliser: true });
      rows.forEach((_, b) => {
        const lse = running.logSumExp(b);
        for (let j = 0; j < k && running.items[b * k + j] >= 0; j += 1) {
          items[(offset + b) * k + j] = running.items[b * k + j];
          scores[(offset + b) * k + j] = Math.exp(running.scores[b * k + j] - lse);
        }
      });
    });
    return { items, scores };
  }

  /** The logits (or, with `softmax`, the probabilities of a block that is every item) of a chunk's rows for one item block, read to the host. */
  async #scoresOfBlock(o: { input: RowsInput; rows: ReadonlyArray<number>; mode: PredictionMode; block: { start: number; end: number }; softmax: boolean }): Promise<Float32Array> {
    const head = await this.rankingHead(o.input.matrix, o.rows, o.mode);
    const scores = tf.tidy(() => {
      const logits = this.rankingBlock(head, o.block);
      return o.softmax ? tf.softmax(logits) : logits;
    });
    head.dispose();
    try {
      return (await scores.data()) as Float32Array;
    } finally {
      scores.dispose();
    }
  }

  /** A chunk's rows scored block by block into a running top k (and log-sum-exp, with `normaliser`): rows × block logits at a time. */
  async #rankInBlocks(o: {
    input: RowsInput;
    rows: ReadonlyArray<number>;
    mode: PredictionMode;
    k: number;
    exclude: CsrMatrix | undefined;
    blocks: ReadonlyArray<{ start: number; end: number }>;
    normaliser: boolean;
  }): Promise<RunningTopK> {
    const { rows, exclude } = o;
    const running = new RunningTopK({ rows: rows.length, k: o.k });
    const place = topKPlace();
    const head = await this.rankingHead(o.input.matrix, rows, o.mode);
    try {
      for (const block of o.blocks) {
        this.assertLive();
        const logits = this.rankingBlock(head, block);
        try {
          const lse = o.normaliser ? await logSumExpOfRows(logits) : undefined;
          if (place === "host") {
            const data = (await logits.data()) as Float32Array;
            const width = block.end - block.start;
            rows.forEach((r, b) =>
              running.offer({ row: b, scores: data.subarray(b * width, (b + 1) * width), offset: block.start, exclude: exclude === undefined ? undefined : rowColumns(exclude, r), logSumExp: lse?.[b] }),
            );
          } else {
            // Only k items and their logits per row leave the backend (native kernel or GPU).
            const best = await blockTopK({ place, logits, excluded: excludedEntries(exclude, rows, block), k: o.k });
            rows.forEach((_, b) =>
              running.offerBest({ row: b, items: best.items.subarray(b * best.k, (b + 1) * best.k), scores: best.scores.subarray(b * best.k, (b + 1) * best.k), offset: block.start, logSumExp: lse?.[b] }),
            );
          }
        } finally {
          logits.dispose();
        }
      }
    } finally {
      head.dispose();
    }
    return running;
  }

  /** Rows of the largest pass `inChunks` makes over this input. */
  protected rowsPerPass(input: RowsInput): number {
    const sliced = input.sliceRows !== undefined && input.sliceRows > 0;
    return Math.min(input.rows.length, sliced ? Math.min(input.sliceRows!, this.state.config.evalBatchSize) : this.state.config.evalBatchSize);
  }

  /** Ranking logits of a chunk's rows over every item (evaluation's top k at one block). */
  protected async rankingLogits(matrix: CsrMatrix, rows: ReadonlyArray<number>, mode: PredictionMode): Promise<tf.Tensor2D> {
    const head = await this.rankingHead(matrix, rows, mode);
    try {
      return this.rankingBlock(head, { start: 0, end: this.state.numItems });
    } finally {
      head.dispose();
    }
  }

  protected override release(): void {
    this.state.params.forEach((t) => t.dispose());
  }

  /** Runs `body` on evalBatchSize rows at a time (sliceRows, with a turn of the event loop between, for interactive callers). */
  protected async inChunks(input: RowsInput, body: (rows: ReadonlyArray<number>, offset: number) => Promise<void>): Promise<void> {
    const sliced = input.sliceRows !== undefined && input.sliceRows > 0;
    const size = Math.max(1, this.rowsPerPass(input));
    for (let offset = 0; offset < input.rows.length; offset += size) {
      if (sliced && offset > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      this.assertLive();
      await body(input.rows.slice(offset, offset + size), offset);
    }
  }

  protected checkInput(input: RowsInput, side: Side): void {
    const expected = side === "x" ? this.state.numItems : this.state.numWords;
    const what = side === "x" ? "items" : "words";
    if (input.matrix.cols !== expected) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `the input has ${input.matrix.cols} columns but the model knows ${expected} ${what}; use the dataset the model was trained on`,
      );
    }
    for (const r of input.rows) {
      if (!Number.isInteger(r) || r < 0 || r >= input.matrix.rows) {
        throw new UserError(ErrorCode.BAD_USER_INPUT, `row ${r} is outside the input's ${input.matrix.rows} rows`);
      }
    }
  }
}

/** Columns of row r of a CSR matrix (a view, no copy). */
export function rowColumns(m: CsrMatrix, r: number): Int32Array {
  return m.indices.subarray(m.indptr[r], m.indptr[r + 1]);
}

/**
 * The excluded columns of a chunk's rows (none without `m`), as CSR (indptr, columns) and as (row,
 * column) pairs; within `block` only, shifted to the block's own columns, when given.
 */
function excludedEntries(m: CsrMatrix | undefined, rows: ReadonlyArray<number>, block?: { start: number; end: number }): { indptr: Int32Array; columns: Int32Array; positions: Int32Array } {
  const start = block?.start ?? 0;
  const end = block?.end ?? Number.POSITIVE_INFINITY;
  const inBlock = (r: number): number[] => (m === undefined ? [] : Array.from(rowColumns(m, r)).filter((c) => c >= start && c < end).map((c) => c - start));
  const perRow = rows.map(inBlock);
  const indptr = new Int32Array(rows.length + 1);
  perRow.forEach((cols, b) => (indptr[b + 1] = indptr[b] + cols.length));
  const columns = new Int32Array(indptr[rows.length]);
  const positions = new Int32Array(2 * columns.length);
  perRow.forEach((cols, b) => {
    columns.set(cols, indptr[b]);
    for (let j = 0; j < cols.length; j += 1) {
      positions[2 * (indptr[b] + j)] = b;
      positions[2 * (indptr[b] + j) + 1] = cols[j];
    }
  });
  return { indptr, columns, positions };
}

/** The k best columns of each row of a block's logits and their logits, taken where the logits are (rows × k, −1 padded). */
async function blockTopK(o: {
  place: Exclude<TopKPlace, "host">;
  logits: tf.Tensor2D;
  excluded: { indptr: Int32Array; columns: Int32Array; positions: Int32Array };
  k: number;
}): Promise<{ items: Int32Array; scores: Float32Array; k: number }> {
  const k = Math.min(o.k, o.logits.shape[1]);
  const [items, scores] = tf.tidy(() => {
    const indices = topKOnBackend({ place: o.place, logits: o.logits, excluded: o.excluded, k });
    // Row-major positions into the flattened block (wasm's gather with batch dimensions fails on some shapes).
    const [rows, width] = o.logits.shape;
    const positions = tf.add(tf.maximum(indices, tf.scalar(0, "int32")), tf.mul(tf.range(0, rows, 1, "int32").reshape([rows, 1]), tf.scalar(width, "int32")));
    return [indices, tf.gather(tf.reshape(o.logits, [-1]), positions)];
  });
  try {
    return { items: (await items.data()) as Int32Array, scores: (await scores.data()) as Float32Array, k };
  } finally {
    tf.dispose([items, scores]);
  }
}

/** log Σ exp over each row of `logits`, computed where they are (one number per row comes back). */
async function logSumExpOfRows(logits: tf.Tensor2D): Promise<Float32Array> {
  const lse = logSumExpRows(logits);
  try {
    return (await lse.data()) as Float32Array;
  } finally {
    lse.dispose();
  }
}
