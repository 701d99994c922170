/**
 * The epoch loop every trained model shares (VCM's Algorithm 1 in vcm/train.ts, the paper baselines'
 * own updates in baselines/train.ts), so they share the split, the validation, the best-epoch rule,
 * the records, the seed and the cancellation.
 */
import * as tf from "@tensorflow/tfjs";
import { ErrorCode, UserError } from "../../errors.ts";
import type { VcmConfig } from "../config.ts";
import { evaluateRanking } from "../evaluate.ts";
import type { EpochRecord } from "../types.ts";
import type { Params } from "./params.ts";
import type { Recommender, TrainOptions } from "./recommender.ts";

/** Order of the per-step term means read back from the backend (and of an epoch's `terms`). */
export const TERM_NAMES = ["reconX", "reconY", "klPriorX", "klPriorY", "klCrossX", "klCrossY"] as const;

export interface PhaseResult {
  readonly history: EpochRecord[];
  readonly bestEpoch: number;
  /** Fresh tensors holding the best epoch's weights (phases without validation return none). */
  readonly best: Params | undefined;
}

/**
 * `epoch` runs one epoch's updates and resolves to the six term means (TERM_NAMES order) and β; then
 * validation NDCG@100 of `live` from the training clicks, the record, the best epoch's copy of every
 * weight, patience and cancellation. Without `live` (vcm-od's first phase) nothing is evaluated or kept.
 */
export async function runEpochs(o: TrainOptions & { config: VcmConfig; params: Params; live: Recommender | undefined; epoch: () => Promise<{ terms: ReadonlyArray<number>; beta: number }> }): Promise<PhaseResult> {
  const { config, params, live, train, validation } = o;
  const history: EpochRecord[] = [];
  let bestScore = Number.NEGATIVE_INFINITY;
  let bestEpoch = 0;
  let bestValues: Map<string, Float32Array> | undefined;
  for (let epoch = 1; epoch <= config.epochs; epoch += 1) {
    const started = performance.now();
    o.signal?.throwIfAborted();
    const { terms, beta } = await o.epoch();
    if (!live) continue;
    const valNdcg100 = (await evaluateRanking({ model: live, mode: "vcm", input: train, heldOut: validation, exclude: train, ks: [100] })).means["ndcg@100"];
    const record: EpochRecord = {
      epoch,
      beta,
      reconX: terms[0],
      reconY: terms[1],
      klPriorX: terms[2],
      klPriorY: terms[3],
      klCrossX: terms[4],
      klCrossY: terms[5],
      valNdcg100,
      seconds: (performance.now() - started) / 1000,
    };
    history.push(record);
    o.onEpoch?.(record);
    if (Number.isNaN(valNdcg100)) {
      // Without validation users there is nothing to choose by: the last epoch is kept, no copy needed.
      bestEpoch = epoch;
      bestValues = undefined;
    } else if (valNdcg100 > bestScore) {
      bestScore = valNdcg100;
      bestEpoch = epoch;
      bestValues = new Map(await Promise.all([...params].map(async ([n, t]) => [n, Float32Array.from((await t.data()) as Float32Array)] as const)));
    } else if (config.patience !== null && epoch - bestEpoch >= config.patience) {
      break;
    }
  }
  if (!live) return { history, bestEpoch, best: undefined };
  const best: Params = new Map();
  for (const [n, t] of params) best.set(n, bestValues ? tf.tensor(bestValues.get(n)!, t.shape) : tf.clone(t));
  return { history, bestEpoch, best };
}

/** Refuses training data whose matrices do not agree on users and items, or that is empty. */
export function checkShapes(o: TrainOptions): void {
  const { train, validation, words } = o;
  if (train.rows !== validation.rows || train.rows !== words.rows) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `train (${train.rows}), validation (${validation.rows}) and words (${words.rows}) must have one row per user each`,
    );
  }
  if (train.cols !== validation.cols) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `train has ${train.cols} items but validation has ${validation.cols}`);
  }
  if (train.rows === 0 || train.cols === 0 || words.cols === 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "training needs at least one user, one item and one word");
  }
}
