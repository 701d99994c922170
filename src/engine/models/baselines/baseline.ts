/**
 * What a baseline's model (model.ts) and training (train.ts) need from each paper baseline: its named
 * weights, one epoch of its own updates, and ranking scores for rows of clicks or words. Every
 * baseline keeps its state as named tensors (Params), so the best epoch's copy and checkpoints are
 * the same as VCM's.
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import type { VcmConfig } from "../../config.ts";
import type { Rng } from "../../random.ts";
import type { PredictionMode } from "../../types.ts";
import type { ParamSpec, Params } from "../params.ts";
import type { ModelSizes } from "../recommender.ts";

/** Name of the per-user fingerprints of the training clicks (pmf.ts rowFingerprint), one per training user. */
export const ROW_FINGERPRINTS = "rows.fingerprint";

/** Sizes that fix a baseline's weights (numUsers: rows of the training clicks, a factor per user). */
export type BaselineSizes = ModelSizes;

/** One training run of a baseline over the shared epoch loop (train.ts). */
export interface BaselineTrainer {
  /**
   * One epoch of the baseline's own updates on `params`; resolves to the means per user of the six
   * EpochRecord terms, in TERM_NAMES order (types.ts EpochRecord says what each holds for a baseline).
   */
  epoch(o: { signal?: AbortSignal }): Promise<number[]>;
  /** Frees the optimiser state (the parameters stay in `params`). */
  dispose(): void;
}

export interface Baseline {
  /** Name and shape of every weight, in checkpoint order (ROW_FINGERPRINTS among them). */
  specs(sizes: BaselineSizes): ParamSpec[];
  /** Starts training on parameters made from specs() (fingerprints filled in by the caller). */
  trainer(o: { params: Params; train: CsrMatrix; words: CsrMatrix; config: VcmConfig; rng: Rng }): Promise<BaselineTrainer>;
  /**
   * Ranking scores (higher is better), rows.length × numItems, for `rows` of `matrix`: training clicks
   * for mode "vcm" (capabilities userFactors), a bag of words for "vcm-cd". The caller disposes it.
   */
  logits(o: { params: Params; config: VcmConfig; matrix: CsrMatrix; rows: ReadonlyArray<number>; mode: PredictionMode }): Promise<tf.Tensor2D>;
}

/**
 * A per-row output computed `batchSize` rows at a time (bounded memory) and read back asynchronously:
 * rows × width row-major. `compute(start, count)` returns the count × width tensor of those rows.
 */
export async function rowsInBatches(o: { rows: number; width: number; batchSize: number; compute: (start: number, count: number) => tf.Tensor }): Promise<Float32Array> {
  const out = new Float32Array(o.rows * o.width);
  for (let start = 0; start < o.rows; start += o.batchSize) {
    const count = Math.min(o.batchSize, o.rows - start);
    const t = tf.tidy(() => o.compute(start, count));
    try {
      out.set((await t.data()) as Float32Array, start * o.width);
    } finally {
      t.dispose();
    }
  }
  return out;
}

/** Puts `t` in place of the parameter `name`, disposing the tensor it replaces. */
export function replaceParam(params: Params, name: string, t: tf.Tensor): void {
  params.get(name)!.dispose();
  params.set(name, t);
}
