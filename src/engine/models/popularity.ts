/**
 * The popularity floor (variant "popularity"): every user gets the items ranked by their number of
 * training clicks. It trains nothing, so it has none of the networks the other models answer from;
 * it refuses, with a sentence, what its row of the capabilities table says it cannot do.
 */
import type { CsrMatrix } from "../../data/csr.ts";
import { ErrorCode, invariant, UserError } from "../../errors.ts";
import { resolveStoredVcmConfig, type VcmConfig } from "../config.ts";
import { topK } from "../metrics.ts";
import { capabilitiesOf, type BackendName, type EpochRecord, type ModelSnapshot, type PredictionMode, type RowsInput, type Side, type Variant, type VariantCapabilities } from "../types.ts";
import { refuseCall, type Recommender, type TrainedOn, type TrainOptions } from "./recommender.ts";
import type { DeletionRequest, WordEffectPair } from "./vcm/word-effects.ts";
import { rowColumns } from "./weight-model.ts";

/** Name of the single stored array of the popularity model. */
export const POPULARITY_WEIGHT = "popularity.counts";

interface PopularityState {
  readonly config: VcmConfig;
  readonly backend: BackendName;
  readonly device: string;
  readonly numItems: number;
  readonly numWords: number;
  /** Train-click count per item. */
  readonly counts: Float32Array;
  readonly history: ReadonlyArray<EpochRecord>;
  readonly bestEpoch: number;
}

export class PopularityModel implements Recommender {
  private readonly state: PopularityState;
  private disposed = false;

  private constructor(state: PopularityState) {
    invariant(state.config.variant === "popularity", `a PopularityModel holds the popularity variant, not ${state.config.variant}`);
    this.state = state;
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

  get variant(): Variant {
    return this.state.config.variant;
  }
  get capabilities(): VariantCapabilities {
    return capabilitiesOf(this.variant);
  }
  get numItems(): number {
    return this.state.numItems;
  }
  get numWords(): number {
    return this.state.numWords;
  }
  get config(): VcmConfig {
    return this.state.config;
  }
  get history(): ReadonlyArray<EpochRecord> {
    return this.state.history;
  }
  get bestEpoch(): number {
    return this.state.bestEpoch;
  }
  get backend(): BackendName {
    return this.state.backend;
  }
  get device(): string {
    return this.state.device;
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

  async latent(_input: RowsInput, _side: Side): Promise<{ mu: Float32Array; logVar: Float32Array }> {
    this.assertLive();
    return refuseCall(this.variant, "latent");
  }

  async wordDistribution(_input: RowsInput): Promise<Float32Array> {
    this.assertLive();
    return refuseCall(this.variant, "wordDistribution");
  }

  async capacity(_input: RowsInput): Promise<Float32Array> {
    this.assertLive();
    return refuseCall(this.variant, "capacity");
  }

  async wordEffects(_o: { words: CsrMatrix; pairs: ReadonlyArray<WordEffectPair> }): Promise<Float32Array[]> {
    this.assertLive();
    return refuseCall(this.variant, "wordEffects");
  }

  async deletionEffects(_o: { words: CsrMatrix; requests: ReadonlyArray<DeletionRequest> }): Promise<Float32Array[]> {
    this.assertLive();
    return refuseCall(this.variant, "wordEffects");
  }

  async snapshot(): Promise<ModelSnapshot> {
    this.assertLive();
    const s = this.state;
    return {
      variant: s.config.variant,
      config: { ...s.config },
      backend: s.backend,
      device: s.device,
      numItems: s.numItems,
      numWords: s.numWords,
      weights: [{ name: POPULARITY_WEIGHT, shape: [s.numItems], values: Float32Array.from(s.counts) }],
      history: s.history.map((h) => ({ ...h })),
      bestEpoch: s.bestEpoch,
    };
  }

  dispose(): void {
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error("Invariant failed: the model was disposed");
  }
}
