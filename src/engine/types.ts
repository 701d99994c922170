/**
 * The engine's public contract: what the services, the CLI and the API may rely on. Arrays in,
 * arrays out; nothing here knows about TypeORM or GraphQL.
 */
import type { CsrMatrix } from "../data/csr.ts";

/**
 * Model variants selectable by name: VCM and its ablations (docs/model.md §1), the popularity floor, and
 * three paper baselines trained and evaluated by the same loop (engine/models/baselines/): CDL, CVAE, DeepCoNN.
 */
export type Variant = "vcm" | "vcm-se" | "vcm-od" | "vcm-nv" | "popularity" | "cdl" | "cvae" | "deepconn";
export const VARIANTS: ReadonlyArray<Variant> = ["vcm", "vcm-se", "vcm-od", "vcm-nv", "popularity", "cdl", "cvae", "deepconn"];

/** What a variant's model can do: the one table every layer asks instead of naming variants. */
export interface VariantCapabilities {
  /** It has parameters trained over epochs (the popularity floor only counts training clicks). */
  readonly trained: boolean;
  /** It has a click encoder qx(z|x_u), so a capacity ĉu = KL(qx ‖ N(0, I)). */
  readonly capacity: boolean;
  /** It ranks items from a user's words alone (mode "vcm-cd", GraphQL source REVIEWS). */
  readonly reviewToClick: boolean;
  /** It maps clicks to a word distribution p(w|u) (click2review: words, explanations, highlights). */
  readonly clickToReview: boolean;
  /** It has Gaussian posteriors qx(z|x_u) and qy(z|y_u) over a shared latent space (VcmModel.latent). */
  readonly posterior: boolean;
  /**
   * Mode "vcm" uses a factor learned for each training user rather than encoding the click row: a row
   * of the training clicks (recognised by a fingerprint of its clicks) gets its trained factor; any
   * other row is folded in from its clicks (cdl, cvae) or refused (deepconn, which knows users by text).
   */
  readonly userFactors: boolean;
  /**
   * Training can continue from a saved model's weights on grown data (TrainOptions.from): it keeps no
   * row per training user, and an appended item's rows start as at a fresh start.
   */
  readonly warmStart: boolean;
}

const VCM_ROW: VariantCapabilities = { trained: true, capacity: true, reviewToClick: true, clickToReview: true, posterior: true, userFactors: false, warmStart: true };
const BASELINE_ROW: VariantCapabilities = { trained: true, capacity: false, reviewToClick: true, clickToReview: false, posterior: false, userFactors: true, warmStart: false };

export const VARIANT_CAPABILITIES: Readonly<Record<Variant, VariantCapabilities>> = Object.freeze({
  vcm: VCM_ROW,
  "vcm-se": VCM_ROW,
  "vcm-od": VCM_ROW,
  "vcm-nv": VCM_ROW,
  popularity: { trained: false, capacity: false, reviewToClick: false, clickToReview: false, posterior: false, userFactors: false, warmStart: false },
  cdl: BASELINE_ROW,
  cvae: BASELINE_ROW,
  deepconn: BASELINE_ROW,
});

/** The capabilities of a variant (VARIANT_CAPABILITIES). */
export function capabilitiesOf(variant: Variant): VariantCapabilities {
  return VARIANT_CAPABILITIES[variant];
}

/** The paper baselines (engine/models/baselines/), which train by their own steps inside the shared epoch loop. */
export type BaselineVariant = "cdl" | "cvae" | "deepconn";

/** Whether a variant is one of the paper baselines. */
export function isBaseline(variant: Variant): variant is BaselineVariant {
  return variant === "cdl" || variant === "cvae" || variant === "deepconn";
}

/** The two sides of VCM: clicks (VAEx) and words (VAEy). */
export type Side = "x" | "y";

/** VCM and its ablations (engine/models/vcm/). */
export type VcmVariant = "vcm" | "vcm-se" | "vcm-od" | "vcm-nv";

/** Whether a variant is VCM or one of its ablations. */
export function isVcmVariant(variant: Variant): variant is VcmVariant {
  return variant === "vcm" || variant === "vcm-se" || variant === "vcm-od" || variant === "vcm-nv";
}

/** How item scores are produced: VCM from clicks (z = μx(x_u)), VCM-CD from words (r = μy(y_u)). */
export type PredictionMode = "vcm" | "vcm-cd";

/** Engine backend actually in use. */
export type BackendName = "webgpu" | "wasm" | "cpu" | "tensorflow-gpu" | "tensorflow";

/**
 * One epoch of training, as recorded in the model's history (means per user over the epoch). The
 * baselines record their own objective in the same fields, each term already multiplied by its weight
 * so that the fields add up to the objective per user (without the item prior and weight decay):
 * cdl: reconX = ½ Σ_i c_ui (x_ui − u_uᵀv_i)², reconY = λn/2 ‖SDAE(ỹ_u) − y_u‖²,
 * klCrossX = λ/2 ‖u_u − f_e(y_u)‖²; cvae: reconX as cdl, reconY = λr · the words' Bernoulli
 * cross-entropy, klPriorY = λr · KL(q(z|y_u) ‖ N(0, I)), klCrossX = λ/2 E_q ‖u_u − z‖²;
 * deepconn: reconX = the logistic loss of the user's positive and sampled negative pairs; the other
 * fields are 0 and beta is 0.
 */
export interface EpochRecord {
  readonly epoch: number;
  /** β at the end of the epoch: min(β, step / annealSteps) (0 for the baselines, which anneal nothing). */
  readonly beta: number;
  /** −Lx: multinomial negative log-likelihood of the clicks (baselines: their click loss). */
  readonly reconX: number;
  /** −Ly: multinomial negative log-likelihood of the words (cdl, cvae: their text reconstruction). */
  readonly reconY: number;
  /** KL(qx ‖ N(0, I)) (0 for the baselines). */
  readonly klPriorX: number;
  /** KL(qy ‖ N(0, I)) (cvae: λr · KL(q(z|y) ‖ N(0, I)); 0 for cdl and deepconn). */
  readonly klPriorY: number;
  /** KL(qx ‖ qy) (for vcm-nv: ‖μx − μy‖²; 0 for vcm-se; cdl, cvae: the user factor's distance to its text, weighted). */
  readonly klCrossX: number;
  /** KL(qy ‖ qx) (for vcm-nv: ‖μx − μy‖²; 0 for vcm-se and the baselines). */
  readonly klCrossY: number;
  /** Mean NDCG@100 on the validation split. */
  readonly valNdcg100: number;
  /** Wall-clock seconds of the epoch (training plus validation). */
  readonly seconds: number;
}

/** A named weight tensor as stored in checkpoints. */
export interface NamedWeight {
  readonly name: string;
  readonly shape: ReadonlyArray<number>;
  readonly values: Float32Array;
}

/** Everything needed to rebuild a trained model on any backend. */
export interface ModelSnapshot {
  readonly variant: Variant;
  /** The resolved training configuration (engine/config.ts VcmConfig), stored verbatim. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Backend the model was trained on. */
  readonly backend: BackendName;
  /** What ran the kernels, in words (the GPU adapter's vendor and description on webgpu); absent in older checkpoints. */
  readonly device?: string;
  readonly numItems: number;
  readonly numWords: number;
  /** Weights of the best epoch (empty arrays allowed for `popularity`, which stores item counts). */
  readonly weights: ReadonlyArray<NamedWeight>;
  readonly history: ReadonlyArray<EpochRecord>;
  /** 1-based epoch whose weights were kept (best validation NDCG@100); 0 for popularity. */
  readonly bestEpoch: number;
}

/** Inputs of a batched prediction: a CSR matrix and which of its rows to score. */
export interface RowsInput {
  readonly matrix: CsrMatrix;
  readonly rows: ReadonlyArray<number>;
  /**
   * Rows per forward pass, with a turn of the event loop between passes (interactive callers: a server
   * answers other requests meanwhile); absent: the config's evalBatchSize, without turns.
   */
  readonly sliceRows?: number;
}

/** The k best items of each row of a ranking and their scores, rows × k row-major, best first. */
export interface RankedItems {
  /** Item columns, padded with −1 where a row has fewer than k items left. */
  readonly items: Int32Array;
  /** The scores of `items` (softmax probabilities π_ui; the popularity floor's counts), NaN in the padding. */
  readonly scores: Float32Array;
}
