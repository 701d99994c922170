/**
 * The one interface every model implements (VCM and its ablations in vcm/, the popularity floor in
 * popularity.ts, the paper baselines in baselines/), and the one every caller uses: how a family
 * trains and loads its models, and what a trained model answers. What a model can do is its row of
 * the capabilities table (types.ts VARIANT_CAPABILITIES); a call outside it is refused with a sentence.
 */
import type { CsrMatrix } from "../../data/csr.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import type { VcmConfig } from "../config.ts";
import type { InnerProductRanking } from "../retrieval/approximate-ranker.ts";
import { capabilitiesOf, type BackendName, type EpochRecord, type ModelSnapshot, type PredictionMode, type RankedItems, type RowsInput, type Side, type Variant, type VariantCapabilities } from "../types.ts";
import type { ClickEffectPair } from "./vcm/click-effects.ts";
import type { DeletionRequest, WordEffectPair } from "./vcm/word-effects.ts";

/** The click and word deletions of one call (Recommender.reasonEffects). */
export interface ReasonEffectsInput {
  readonly clicks: CsrMatrix;
  readonly words: CsrMatrix;
  readonly clickPairs: ReadonlyArray<ClickEffectPair>;
  readonly wordRequests: ReadonlyArray<DeletionRequest>;
}

export interface TrainOptions {
  /** Training clicks, users × items (binary). */
  readonly train: CsrMatrix;
  /** Validation clicks, users × items: picks the best epoch by NDCG@100. */
  readonly validation: CsrMatrix;
  /** Bag of words per user, users × vocabulary (counts). */
  readonly words: CsrMatrix;
  /** The training configuration, resolved once by the caller's edge (resolveVcmConfig). */
  readonly config: VcmConfig;
  /**
   * Called after each epoch. For vcm-od only the second phase (VAEx against the frozen VAEy) is
   * reported and kept in the history; its first phase (VAEy alone, `epochs` epochs) is not.
   */
  readonly onEpoch?: (record: EpochRecord) => void;
  /** Aborting it stops training between two steps with an AbortError. */
  readonly signal?: AbortSignal;
  /**
   * Warm start: the saved model to continue from instead of fresh weights (capability warmStart; same
   * variant and weight shapes, config.ts warmStartConflict). Its weights are kept bit for bit; the data
   * may have more items than it knew (appended after its own), whose rows start as a fresh start's.
   */
  readonly from?: ModelSnapshot;
}

/** The backend a model is trained on, as stored with it (runtime/backend.ts currentBackend, currentDevice). */
export interface TrainedOn {
  readonly backend: BackendName;
  readonly device: string;
}

/** Sizes that fix a model's weights (the baselines keep a factor per training user). */
export interface ModelSizes {
  readonly numUsers: number;
  readonly numItems: number;
  readonly numWords: number;
  readonly config: VcmConfig;
}

/** How a family of variants makes its models: by training, or from a checkpoint's snapshot. */
export interface RecommenderFamily {
  /** Trains the configured variant (shapes checked, backend started) and returns its best epoch's model. */
  train(options: TrainOptions & TrainedOn): Promise<Recommender>;
  /** Rebuilds a model from a snapshot on the current backend, checking every weight's name and shape. */
  fromSnapshot(snapshot: ModelSnapshot): Recommender;
  /** Trainable numbers of a model of these sizes (sizes training memory and the checkpoint). */
  parameterCount(sizes: ModelSizes): number;
}

/** A trained model and its batched predictions: many users in one forward pass, arrays in, arrays out. */
export interface Recommender {
  readonly variant: Variant;
  /** What it can do: its row of VARIANT_CAPABILITIES. */
  readonly capabilities: VariantCapabilities;
  readonly numItems: number;
  readonly numWords: number;
  readonly config: VcmConfig;
  readonly history: ReadonlyArray<EpochRecord>;
  readonly bestEpoch: number;
  readonly backend: BackendName;
  /** What ran the kernels during training, in words (the GPU adapter on webgpu). */
  readonly device: string;
  /** Item scores, rows.length × numItems row-major, from clicks (mode "vcm") or words ("vcm-cd"). */
  scoreItems(input: RowsInput, mode: PredictionMode): Promise<Float32Array>;
  /**
   * The k best items of each row, best first, skipping the row's entries in `exclude` (its training
   * clicks), as rows.length × k item columns padded with −1 (evaluation's ranking).
   */
  topItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude: CsrMatrix; blockItems?: number }): Promise<Int32Array>;
  /**
   * The k best items of each row with the scores scoreItems gives them, best first, skipping the row's
   * entries of `exclude` when given (serving's ranking). Scored in item blocks of `blockItems`
   * (running-top-k.ts ITEM_BLOCK_ITEMS by default), so no pass holds rows × every item.
   */
  rankItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude?: CsrMatrix; blockItems?: number }): Promise<RankedItems>;
  /** Encodes rows into the latent space: μ and log σ² of one side's posterior, each rows.length × latentDim (capability posterior). */
  latent(input: RowsInput, side: Side): Promise<{ mu: Float32Array; logVar: Float32Array }>;
  /** click2review: p(w|u) from clicks, rows.length × numWords row-major (capability clickToReview). */
  wordDistribution(input: RowsInput): Promise<Float32Array>;
  /** Capacity ĉu = KL(qx(z | x_u) ‖ N(0, I)) per row of click input (capability capacity). */
  capacity(input: RowsInput): Promise<Float32Array>;
  /** First-order effects of deleting each word of a user's bag on an item's review2click score (capability clickToReview). */
  wordEffects(o: { words: CsrMatrix; pairs: ReadonlyArray<WordEffectPair> }): Promise<Float32Array[]>;
  /** Exact relative falls of an item's review2click score when words leave the user's bag (capability clickToReview). */
  deletionEffects(o: { words: CsrMatrix; requests: ReadonlyArray<DeletionRequest> }): Promise<Float32Array[]>;
  /** Exact relative falls of an item's VCM score when each click leaves the user's history, aligned with the row's clicks (capability capacity). */
  clickEffects(o: { clicks: CsrMatrix; pairs: ReadonlyArray<ClickEffectPair> }): Promise<Float32Array[]>;
  /**
   * clickEffects and deletionEffects of one call together, each list's answers in its order: where the
   * two kinds of deleted row are decoded by the same layers, they share its passes (the gates of both).
   */
  reasonEffects(o: ReasonEffectsInput): Promise<{ clicks: Float32Array[]; words: Float32Array[] }>;
  /**
   * The ranking as one inner product per item, ⟨[h_u, 1], [W_i, b_i]⟩, for approximate retrieval
   * (retrieval/approximate-ranker.ts); absent for a model whose logits are not that (the baselines).
   */
  innerProductRanking?(): InnerProductRanking;
  /** Copies the weights out (the best epoch's, once training has finished). */
  snapshot(): Promise<ModelSnapshot>;
  /** Frees the weights; the model cannot predict afterwards. */
  dispose(): void;
}

/** The calls a capability gates, each with what a model without it lacks (and, in brackets, why). */
const GATED_CALLS = {
  wordDistribution: { capability: "clickToReview", what: "click2review word distribution (it decodes no words from clicks)" },
  wordEffects: { capability: "clickToReview", what: "effects of words on the review2click score (it has no VAEy)" },
  clickEffects: { capability: "capacity", what: "effects of clicks on the click score (it has no click encoder qx(z|x_u))" },
  capacity: { capability: "capacity", what: "capacity (it has no click encoder qx(z|x_u), so no KL to N(0, I))" },
  latent: { capability: "posterior", what: "latent space (it has no Gaussian posteriors qx and qy)" },
} as const satisfies Record<string, { capability: keyof VariantCapabilities; what: string }>;

export type GatedCall = keyof typeof GATED_CALLS;

/** Refuses, with a sentence, a call that the variant's row of VARIANT_CAPABILITIES says it cannot make. */
export function requireCapability(variant: Variant, call: GatedCall): void {
  const { capability, what } = GATED_CALLS[call];
  const row = capabilitiesOf(variant);
  if (row[capability]) return;
  // The popularity floor has no network at all, so the bracket naming the missing one is left out.
  const detail = row.trained ? what : what.replace(/ \(.*\)$/, "");
  throw new UserError(ErrorCode.BAD_USER_INPUT, `the ${variant} baseline has no ${detail}; use a vcm model`);
}

/** requireCapability for a call the variant's row never allows (a model without the capability). */
export function refuseCall(variant: Variant, call: GatedCall): never {
  requireCapability(variant, call);
  throw new Error(`Invariant failed: ${variant} was expected to lack the capability of ${call}`);
}

/** Refuses mode vcm-cd for a model that cannot rank from words. */
export function checkMode(variant: Variant, mode: PredictionMode): void {
  if (mode === "vcm-cd" && !capabilitiesOf(variant).reviewToClick) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `the ${variant} model cannot rank from words (mode vcm-cd); use mode vcm`);
  }
}
