/**
 * The engine's public contract: what the services, the CLI and the API may rely on. Arrays in,
 * arrays out; nothing here knows about TypeORM or GraphQL.
 */
import type { CsrMatrix } from "../data/csr.ts";

/** Model variants selectable by name (DESIGN.md §2 ablations plus a popularity floor). */
export type Variant = "vcm" | "vcm-se" | "vcm-od" | "vcm-nv" | "popularity";
export const VARIANTS: ReadonlyArray<Variant> = ["vcm", "vcm-se", "vcm-od", "vcm-nv", "popularity"];

/** What a variant's model can do: the one table every layer asks instead of naming variants. */
export interface VariantCapabilities {
  /** It has parameters trained over epochs (the popularity floor only counts training clicks). */
  readonly trained: boolean;
  /** It has a click encoder qx(z|x_u), so a capacity ĉu. */
  readonly capacity: boolean;
  /** It has a word model (VAEy): click2review words, explanations, highlights, review2click (VCM-CD), text. */
  readonly textModel: boolean;
}

export const VARIANT_CAPABILITIES: Readonly<Record<Variant, VariantCapabilities>> = Object.freeze({
  vcm: { trained: true, capacity: true, textModel: true },
  "vcm-se": { trained: true, capacity: true, textModel: true },
  "vcm-od": { trained: true, capacity: true, textModel: true },
  "vcm-nv": { trained: true, capacity: true, textModel: true },
  popularity: { trained: false, capacity: false, textModel: false },
});

/** The capabilities of a variant (VARIANT_CAPABILITIES). */
export function capabilitiesOf(variant: Variant): VariantCapabilities {
  return VARIANT_CAPABILITIES[variant];
}

/** How item scores are produced: VCM from clicks (z = μx(x_u)), VCM-CD from words (r = μy(y_u)). */
export type PredictionMode = "vcm" | "vcm-cd";

/** Engine backend actually in use. */
export type BackendName = "webgpu" | "wasm" | "cpu" | "tensorflow-gpu" | "tensorflow";

/** One epoch of training, as recorded in the model's history (means per user over the epoch). */
export interface EpochRecord {
  readonly epoch: number;
  /** β at the end of the epoch: min(β, step / annealSteps). */
  readonly beta: number;
  /** −Lx: multinomial negative log-likelihood of the clicks. */
  readonly reconX: number;
  /** −Ly: multinomial negative log-likelihood of the words. */
  readonly reconY: number;
  /** KL(qx ‖ N(0, I)). */
  readonly klPriorX: number;
  /** KL(qy ‖ N(0, I)). */
  readonly klPriorY: number;
  /** KL(qx ‖ qy) (for vcm-nv: ‖μx − μy‖²; 0 for vcm-se). */
  readonly klCrossX: number;
  /** KL(qy ‖ qx) (for vcm-nv: ‖μx − μy‖²; 0 for vcm-se). */
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
