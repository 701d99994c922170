/**
 * A trained paper baseline (CDL, CVAE, DeepCoNN): it ranks from its own weights (baseline.ts logits)
 * and refuses, with a sentence, what its row of the capabilities table says it cannot do (no capacity,
 * no click2review, no shared latent space).
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import { ErrorCode, invariant, UserError } from "../../../errors.ts";
import { resolveStoredVcmConfig } from "../../config.ts";
import { isBaseline, type BaselineVariant, type ModelSnapshot, type PredictionMode } from "../../types.ts";
import { paramsFromWeights, type ParamSpec } from "../params.ts";
import { WeightModel, type WeightModelState } from "../weight-model.ts";
import { ROW_FINGERPRINTS, type Baseline } from "./baseline.ts";
import { baselineOf } from "./index.ts";

export class BaselineModel extends WeightModel {
  private readonly baseline: Baseline;

  private constructor(state: WeightModelState, variant: BaselineVariant) {
    super(state);
    this.baseline = baselineOf(variant);
  }

  /** Wraps parameters that the caller hands over; used by training. */
  static create(state: WeightModelState): BaselineModel {
    const variant = state.config.variant;
    invariant(isBaseline(variant), `a BaselineModel holds a paper baseline, not ${variant}`);
    return new BaselineModel(state, variant);
  }

  /** Rebuilds a model from a snapshot; it keeps one factor per training user, as many as the stored fingerprints. */
  static fromSnapshot(s: ModelSnapshot): BaselineModel {
    const config = resolveStoredVcmConfig({ ...s.config, variant: s.variant });
    invariant(isBaseline(s.variant), `a BaselineModel holds a paper baseline, not ${s.variant}`);
    const numUsers = s.weights.find((w) => w.name === ROW_FINGERPRINTS)?.values.length ?? 0;
    if (numUsers === 0) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `the checkpoint of this ${s.variant} model lacks its weight ${ROW_FINGERPRINTS}; the checkpoint is damaged`);
    }
    const specs = baselineOf(s.variant).specs({ numUsers, numItems: s.numItems, numWords: s.numWords, config });
    const params = paramsFromWeights(specs, s.weights);
    return new BaselineModel({ config, backend: s.backend, device: s.device ?? s.backend, numItems: s.numItems, numWords: s.numWords, history: s.history, bestEpoch: s.bestEpoch, params }, s.variant);
  }

  protected specs(): ParamSpec[] {
    const s = this.state;
    return this.baseline.specs({ numUsers: s.params.get(ROW_FINGERPRINTS)?.shape[0] ?? 0, numItems: s.numItems, numWords: s.numWords, config: s.config });
  }

  /** The softmax over items of the predicted preference (CDL, CVAE: u_uᵀv_i; DeepCoNN: the FM's ŷ_ui) ranks as the preference does. */
  protected async rankingHead(matrix: CsrMatrix, rows: ReadonlyArray<number>, mode: PredictionMode): Promise<tf.Tensor2D> {
    return this.baseline.logits({ params: this.state.params, config: this.state.config, matrix, rows, mode });
  }

  /** A block of the whole logits: the baselines run at the paper's shapes, so they score every item at once and blocks only slice. */
  protected rankingBlock(head: tf.Tensor2D, block: { start: number; end: number }): tf.Tensor2D {
    if (block.start === 0 && block.end === head.shape[1]) return tf.clone(head);
    return tf.slice(head, [0, block.start], [head.shape[0], block.end - block.start]);
  }
}
