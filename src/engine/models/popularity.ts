/**
 * The popularity floor (variant "popularity"): every user gets the items ranked by their number of
 * training clicks. It trains nothing, so it has none of the networks the other models answer from;
 * it refuses, with a sentence, what its row of the capabilities table says it cannot do.
 */
import type { CsrMatrix } from "../../data/csr.ts";
import { ErrorCode, invariant, UserError } from "../../errors.ts";
import { resolveStoredVcmConfig } from "../config.ts";
import { topK } from "../metrics.ts";
import type { ModelSnapshot, PredictionMode, RankedItems, RowsInput } from "../types.ts";
import { BaseRecommender, type RecommenderState } from "./base-model.ts";
import type { TrainedOn, TrainOptions } from "./recommender.ts";
import { rowColumns } from "./weight-model.ts";

/** Name of the single stored array of the popularity model. */
export const POPULARITY_WEIGHT = "popularity.counts";

interface PopularityState extends RecommenderState {
  /** Train-click count per item. */
  readonly counts: Float32Array;
}

export class PopularityModel extends BaseRecommender<PopularityState> {
  private constructor(state: PopularityState) {
    invariant(state.config.variant === "popularity", `a PopularityModel holds the popularity variant, not ${state.config.variant}`);
    super(state);
  }

  /** Counts each item's training clicks. */
  static train(o: TrainOptions & TrainedOn): PopularityModel {
    const { train, words, config, backend, device } = o;
    const counts = new Float32Array(train.cols);
    for (let k = 0; k < train.indptr[train.rows]; k += 1) counts[train.indices[k]] += 1;
    return new PopularityModel({ config, backend, device, numItems: train.cols, numWords: words.cols, counts, history: [], bestEpoch: 0 });
  }

  /** Rebuilds the model from a snapshot, which must hold one count per item. */
  static fromSnapshot(s: ModelSnapshot): PopularityModel {
    const config = resolveStoredVcmConfig({ ...s.config, variant: s.variant });
    const counts = s.weights.find((w) => w.name === POPULARITY_WEIGHT);
    if (!counts || counts.values.length !== s.numItems) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `the popularity model's checkpoint lacks ${s.numItems} item counts`);
    }
    return new PopularityModel({ config, backend: s.backend, device: s.device ?? s.backend, numItems: s.numItems, numWords: s.numWords, counts: Float32Array.from(counts.values), history: s.history, bestEpoch: s.bestEpoch });
  }

  /** The train-click counts of every item, the same for every row (whatever the mode). */
  async scoreItems(input: RowsInput, _mode: PredictionMode): Promise<Float32Array> {
    this.assertLive();
    const s = this.state;
    const out = new Float32Array(input.rows.length * s.numItems);
    for (let r = 0; r < input.rows.length; r += 1) out.set(s.counts, r * s.numItems);
    return out;
  }

  async topItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude: CsrMatrix }): Promise<Int32Array> {
    this.assertLive();
    const s = this.state;
    const k = Math.min(o.k, s.numItems);
    const out = new Int32Array(o.input.rows.length * o.k).fill(-1);
    if (o.exclude.cols !== s.numItems) throw new UserError(ErrorCode.BAD_USER_INPUT, `the excluded clicks must have ${s.numItems} item columns`);
    o.input.rows.forEach((r, b) => out.set(topK({ scores: s.counts, k, exclude: rowColumns(o.exclude, r) }), b * o.k));
    return out;
  }

  /** The most clicked items, the same for every row but for its exclusions; their scores are their counts. */
  async rankItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude?: CsrMatrix }): Promise<RankedItems> {
    this.assertLive();
    const s = this.state;
    const k = Math.max(0, o.k);
    const items = new Int32Array(o.input.rows.length * k).fill(-1);
    const scores = new Float32Array(o.input.rows.length * k).fill(Number.NaN);
    o.input.rows.forEach((r, b) => {
      const ranked = topK({ scores: s.counts, k, exclude: o.exclude === undefined ? undefined : rowColumns(o.exclude, r) });
      items.set(ranked, b * k);
      ranked.forEach((item, j) => (scores[b * k + j] = s.counts[item]));
    });
    return { items, scores };
  }

  protected async weights(): Promise<ModelSnapshot["weights"]> {
    return [{ name: POPULARITY_WEIGHT, shape: [this.state.numItems], values: Float32Array.from(this.state.counts) }];
  }
}
