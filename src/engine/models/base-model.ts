/**
 * What every recommender shares: what it was trained as and on (configuration, sizes, history, the
 * backend it ran on), the disposed flag, and the gated calls, refused by default with the sentence of
 * its row of the capabilities table; a family that has the capability overrides the call.
 */
import type { CsrMatrix } from "../../data/csr.ts";
import type { VcmConfig } from "../config.ts";
import { capabilitiesOf, type BackendName, type EpochRecord, type ModelSnapshot, type PredictionMode, type RankedItems, type RowsInput, type Side, type Variant, type VariantCapabilities } from "../types.ts";
import { refuseCall, type ReasonEffectsInput, type Recommender } from "./recommender.ts";
import type { ClickEffectPair } from "./vcm/click-effects.ts";
import type { DeletionRequest, WordEffectPair } from "./vcm/word-effects.ts";

/** The part of a model's state every family has. */
export interface RecommenderState {
  readonly config: VcmConfig;
  readonly backend: BackendName;
  /** What ran the kernels during training, in words (runtime/backend.ts currentDevice). */
  readonly device: string;
  readonly numItems: number;
  readonly numWords: number;
  readonly history: ReadonlyArray<EpochRecord>;
  readonly bestEpoch: number;
}

export abstract class BaseRecommender<S extends RecommenderState> implements Recommender {
  protected readonly state: S;
  #disposed = false;

  protected constructor(state: S) {
    this.state = state;
  }

  abstract scoreItems(input: RowsInput, mode: PredictionMode): Promise<Float32Array>;
  abstract topItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude: CsrMatrix; blockItems?: number }): Promise<Int32Array>;
  abstract rankItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude?: CsrMatrix; blockItems?: number }): Promise<RankedItems>;
  /** The stored arrays of the model (its weights, or the counts of a model that trains none). */
  protected abstract weights(): Promise<ModelSnapshot["weights"]>;

  /** Copies the model out: its description and its arrays (the best epoch's, once training has finished). */
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
      weights: await this.weights(),
      history: s.history.map((h) => ({ ...h })),
      bestEpoch: s.bestEpoch,
    };
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

  async clickEffects(_o: { clicks: CsrMatrix; pairs: ReadonlyArray<ClickEffectPair> }): Promise<Float32Array[]> {
    this.assertLive();
    return refuseCall(this.variant, "clickEffects");
  }

  /** The two calls one after the other, for a family whose two kinds share no pass. */
  async reasonEffects(o: ReasonEffectsInput): Promise<{ clicks: Float32Array[]; words: Float32Array[] }> {
    const clicks = o.clickPairs.length === 0 ? [] : await this.clickEffects({ clicks: o.clicks, pairs: o.clickPairs });
    const words = o.wordRequests.length === 0 ? [] : await this.deletionEffects({ words: o.words, requests: o.wordRequests });
    return { clicks, words };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.release();
  }

  /** Frees what the model holds (its tensors), once, when it is disposed. */
  protected release(): void {}

  protected assertLive(): void {
    if (this.#disposed) throw new Error("Invariant failed: the model was disposed");
  }
}
