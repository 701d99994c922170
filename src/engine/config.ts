/**
 * The VCM training configuration: one interface, its defaults (the paper's settings, docs/model.md §1)
 * and the single function that checks a partial configuration and fills in the rest.
 */
import { ErrorCode, UserError } from "../errors.ts";
import { VARIANTS, type Variant } from "./types.ts";

/** Everything that shapes a training run; stored verbatim with every trained model. */
export interface VcmConfig {
  /** Which model to train: the joint VCM, one of its ablations, or the popularity floor. */
  readonly variant: Variant;
  /** Size K of both latent Gaussians (μ and log σ² each have K entries). */
  readonly latentDim: number;
  /** Width of VAEx's hidden layers, encoder and decoder (600 in the paper). */
  readonly hiddenX: number;
  /** Width of VAEy's encoder hidden layer (500 in the paper). */
  readonly hiddenY: number;
  /** Probability of dropping each click of VAEx's row-normalised input during training. */
  readonly dropout: number;
  /** Final weight β of every KL term; reached linearly after annealSteps steps. */
  readonly beta: number;
  /** Number of optimiser steps over which β rises from 0 to its final value. */
  readonly annealSteps: number;
  /** Number of passes over the training users (for vcm-od: of each of its two phases). */
  readonly epochs: number;
  /** Users per optimiser step. */
  readonly batchSize: number;
  /**
   * The optimiser's step size: Adam's for VCM, CDL and CVAE; for the baselines, that of
   * `baselineOptimizer`. Default 0.001, except deepconn's 0.002 (its paper's RMSprop rate; VARIANT_DEFAULTS).
   */
  readonly learningRate: number;
  /** Seed of every random choice (initial weights, user order, dropout, ε), so a run can be repeated. */
  readonly seed: number;
  /** Stop after this many epochs without a better validation NDCG@100; null trains every epoch. */
  readonly patience: number | null;
  /** Users per forward pass when predicting or evaluating (bounds memory, not results). */
  readonly evalBatchSize: number;

  // The paper baselines (engine/baselines/, docs/cli.md "Baselines"); VCM ignores these fields.
  /** Size K of the baselines' user and item factors (CDL, CVAE: 50; DeepCoNN's |x_u| = |y_i|: 50). */
  readonly baselineLatentDim: number;
  /** Confidence a of an observed click in the CDL / CVAE likelihood (both papers: 1). */
  readonly confidenceObserved: number;
  /** Confidence b of an unobserved entry (both papers: 0.01). */
  readonly confidenceUnobserved: number;
  /** Precision of a user factor around its text network's output (the papers' λv, text being on the user side here). */
  readonly textOffsetReg: number;
  /** Prior precision of the item factors (the papers' λu, items being the side without text here). */
  readonly itemFactorReg: number;
  /** Weight decay λw on the text networks' weights (CDL, CVAE). */
  readonly weightDecay: number;
  /** Epochs of the text network alone (its own loss, no user factors) before the alternation starts (CDL, CVAE). */
  readonly textPretrainEpochs: number;
  /** Width of the SDAE's hidden layers: words → sdaeHidden → K → sdaeHidden → words (CDL). */
  readonly sdaeHidden: number;
  /** Masking noise: share of each user's words zeroed in the SDAE's input during training (CDL). */
  readonly sdaeCorruption: number;
  /** Weight λn of the SDAE's reconstruction error (CDL). */
  readonly sdaeReconWeight: number;
  /** Width of the inference network's first hidden layer, and the generation network's last (CVAE). */
  readonly cvaeHiddenOuter: number;
  /** Width of the inference network's second hidden layer, and the generation network's first (CVAE). */
  readonly cvaeHiddenInner: number;
  /** Weight λr of the text ELBO (reconstruction and KL) against the ratings (CVAE). */
  readonly cvaeTextWeight: number;
  /** Width of DeepCoNN's word embeddings, learned from scratch. */
  readonly deepconnEmbedding: number;
  /** Number of convolution filters per text network (DeepCoNN). */
  readonly deepconnFilters: number;
  /** Words per convolution window (DeepCoNN). */
  readonly deepconnWindow: number;
  /** Size of the factorization machine's pairwise factors (DeepCoNN). */
  readonly deepconnFmFactors: number;
  /** Tokens per text: a user's (an item's) distinct words by descending count, the first this many (DeepCoNN). */
  readonly deepconnTokens: number;
  /** Sampled negative items per training click (DeepCoNN's logistic loss). */
  readonly negatives: number;
  /** Items drawn per batch from which the negatives are chosen, which bounds the item texts a step encodes (DeepCoNN). */
  readonly deepconnNegativePool: number;
  /** The optimiser of the baselines' networks, at `learningRate`: "rmsprop" for deepconn (its paper), "adam" otherwise (VARIANT_DEFAULTS). */
  readonly baselineOptimizer: BaselineOptimizer;
  /** Probability of dropping each unit of both text networks' outputs x_u, y_i during training, before the factorization machine (DeepCoNN; its paper: 0.5). */
  readonly deepconnDropout: number;
  /** Whether the decoder's outer layers are the encoder's transposes, as both authors' codes do (CDL, CVAE). */
  readonly tiedWeights: boolean;
}

/** The optimisers a baseline's networks can train with. */
export type BaselineOptimizer = "adam" | "rmsprop";
export const BASELINE_OPTIMIZERS: ReadonlyArray<BaselineOptimizer> = ["adam", "rmsprop"];

export const DEFAULT_VCM_CONFIG: VcmConfig = Object.freeze({
  variant: "vcm",
  latentDim: 100,
  hiddenX: 600,
  hiddenY: 500,
  dropout: 0.5,
  beta: 0.4,
  annealSteps: 40_000,
  epochs: 200,
  batchSize: 128,
  learningRate: 1e-3,
  seed: 1,
  patience: null,
  evalBatchSize: 512,
  baselineLatentDim: 50,
  confidenceObserved: 1,
  confidenceUnobserved: 0.01,
  textOffsetReg: 10,
  itemFactorReg: 0.1,
  weightDecay: 1e-4,
  textPretrainEpochs: 0,
  sdaeHidden: 200,
  sdaeCorruption: 0.3,
  sdaeReconWeight: 1_000,
  cvaeHiddenOuter: 200,
  cvaeHiddenInner: 100,
  cvaeTextWeight: 1,
  deepconnEmbedding: 100,
  deepconnFilters: 100,
  deepconnWindow: 3,
  deepconnFmFactors: 8,
  deepconnTokens: 64,
  negatives: 4,
  deepconnNegativePool: 512,
  baselineOptimizer: "adam",
  deepconnDropout: 0.5,
  tiedWeights: true,
});

/**
 * Defaults that differ by variant, applied over DEFAULT_VCM_CONFIG before the given fields: DeepCoNN's
 * paper trains with RMSprop at 0.002, while every other variant keeps VCM's Adam at 0.001.
 */
export const VARIANT_DEFAULTS: Readonly<Partial<Record<Variant, Partial<VcmConfig>>>> = Object.freeze({
  deepconn: Object.freeze({ baselineOptimizer: "rmsprop", learningRate: 0.002 }),
});

/**
 * What a configuration stored before a field existed trained with, where that differs from the field's
 * default today: untied decoders, Adam, no dropout (resolveStoredVcmConfig).
 */
export const STORED_CONFIG_DEFAULTS: Readonly<Partial<VcmConfig>> = Object.freeze({ tiedWeights: false, baselineOptimizer: "adam", deepconnDropout: 0 });

/**
 * The range each numeric field may take, inclusive: wide enough for any real run, narrow enough that a
 * typo (hiddenX: 2000000000) is refused before any work instead of failing deep inside training.
 */
export const VCM_CONFIG_BOUNDS = Object.freeze({
  latentDim: { min: 1, max: 1_000, integer: true },
  hiddenX: { min: 1, max: 10_000, integer: true },
  hiddenY: { min: 1, max: 10_000, integer: true },
  annealSteps: { min: 1, max: 100_000_000, integer: true },
  epochs: { min: 1, max: 10_000, integer: true },
  batchSize: { min: 1, max: 100_000, integer: true },
  evalBatchSize: { min: 1, max: 100_000, integer: true },
  patience: { min: 1, max: 10_000, integer: true },
  seed: { min: -2_147_483_648, max: 2_147_483_647, integer: true },
  beta: { min: 0, max: 100, integer: false },
  learningRate: { min: Number.MIN_VALUE, max: 10, integer: false },
  baselineLatentDim: { min: 1, max: 1_000, integer: true },
  confidenceObserved: { min: Number.MIN_VALUE, max: 1_000_000, integer: false },
  confidenceUnobserved: { min: 0, max: 1_000_000, integer: false },
  textOffsetReg: { min: Number.MIN_VALUE, max: 1_000_000, integer: false },
  itemFactorReg: { min: Number.MIN_VALUE, max: 1_000_000, integer: false },
  weightDecay: { min: 0, max: 1_000, integer: false },
  textPretrainEpochs: { min: 0, max: 10_000, integer: true },
  sdaeHidden: { min: 1, max: 10_000, integer: true },
  sdaeReconWeight: { min: 0, max: 1_000_000, integer: false },
  cvaeHiddenOuter: { min: 1, max: 10_000, integer: true },
  cvaeHiddenInner: { min: 1, max: 10_000, integer: true },
  cvaeTextWeight: { min: 0, max: 1_000_000, integer: false },
  deepconnEmbedding: { min: 1, max: 1_000, integer: true },
  deepconnFilters: { min: 1, max: 1_000, integer: true },
  deepconnWindow: { min: 1, max: 20, integer: true },
  deepconnFmFactors: { min: 1, max: 1_000, integer: true },
  deepconnTokens: { min: 1, max: 10_000, integer: true },
  negatives: { min: 1, max: 100, integer: true },
  deepconnNegativePool: { min: 1, max: 1_000_000, integer: true },
} as const);

type BoundedField = keyof typeof VCM_CONFIG_BOUNDS;

/** The paper baselines' fields (VCM ignores them), each with what it is, for the CLI's flags and the schema. */
export const BASELINE_FIELDS: Readonly<Record<BaselineField, string>> = Object.freeze({
  baselineLatentDim: "Size K of the user and item factors (all three; papers: 50)",
  confidenceObserved: "Confidence a of an observed click (CDL, CVAE; papers: 1)",
  confidenceUnobserved: "Confidence b of an unobserved entry (CDL, CVAE; papers: 0.01)",
  textOffsetReg: "Precision λv of a user factor around its text network's output (CDL, CVAE)",
  itemFactorReg: "Prior precision λu of the item factors (CDL, CVAE)",
  weightDecay: "Weight decay λw of the text networks (CDL, CVAE)",
  textPretrainEpochs: "Epochs of the text network alone before the alternation, as the authors' code pretrains it (CDL, CVAE; 0: none)",
  sdaeHidden: "Width of the SDAE's hidden layers (CDL)",
  sdaeCorruption: "Masking noise: share of a user's words zeroed in the SDAE's input, 0 ≤ p < 1 (CDL)",
  sdaeReconWeight: "Weight λn of the SDAE's reconstruction error (CDL)",
  cvaeHiddenOuter: "Width of the inference network's first hidden layer (CVAE)",
  cvaeHiddenInner: "Width of the inference network's second hidden layer (CVAE)",
  cvaeTextWeight: "Weight λr of the text ELBO against the clicks (CVAE)",
  deepconnEmbedding: "Width of the word embeddings, learned from scratch (DeepCoNN)",
  deepconnFilters: "Convolution filters per text network (DeepCoNN)",
  deepconnWindow: "Words per convolution window (DeepCoNN)",
  deepconnFmFactors: "Pairwise factors of the factorization machine (DeepCoNN)",
  deepconnTokens: "Tokens per text: the user's (item's) distinct words by descending count (DeepCoNN)",
  negatives: "Sampled negative items per training click (DeepCoNN)",
  deepconnNegativePool: "Items drawn per batch from which the negatives are chosen (DeepCoNN)",
  baselineOptimizer: "Optimiser of the networks at the learning rate, adam or rmsprop (all three)",
  deepconnDropout: "Dropout on both text networks' outputs during training, before the factorization machine, 0 ≤ p < 1 (DeepCoNN; paper: 0.5)",
  tiedWeights: "Decoder's outer layers tied to the encoder's transposes, as the authors' codes do (CDL, CVAE)",
});

export type BaselineField =
  | "baselineLatentDim"
  | "confidenceObserved"
  | "confidenceUnobserved"
  | "textOffsetReg"
  | "itemFactorReg"
  | "weightDecay"
  | "textPretrainEpochs"
  | "sdaeHidden"
  | "sdaeCorruption"
  | "sdaeReconWeight"
  | "cvaeHiddenOuter"
  | "cvaeHiddenInner"
  | "cvaeTextWeight"
  | "deepconnEmbedding"
  | "deepconnFilters"
  | "deepconnWindow"
  | "deepconnFmFactors"
  | "deepconnTokens"
  | "negatives"
  | "deepconnNegativePool"
  | "baselineOptimizer"
  | "deepconnDropout"
  | "tiedWeights";

/** The baseline fields whose range is "0 ≤ p < 1" rather than a row of VCM_CONFIG_BOUNDS. */
const PROBABILITY_FIELDS: ReadonlyArray<BaselineField> = ["sdaeCorruption", "deepconnDropout"];

/** What a baseline field takes: whole numbers, numbers, one of BASELINE_OPTIMIZERS, or true / false. */
export function baselineFieldKind(field: BaselineField): "int" | "float" | "optimizer" | "boolean" {
  if (field === "baselineOptimizer") return "optimizer";
  if (field === "tiedWeights") return "boolean";
  if (PROBABILITY_FIELDS.includes(field)) return "float";
  return VCM_CONFIG_BOUNDS[field as BoundedField].integer ? "int" : "float";
}

/** "1 to 1,000, default 50": a baseline field's range and default in words. */
export function baselineFieldText(field: BaselineField): string {
  if (field === "baselineOptimizer") return `one of ${BASELINE_OPTIMIZERS.join(", ")}, default rmsprop for deepconn (its paper, at learning rate 0.002) and adam for cdl and cvae`;
  if (field === "tiedWeights") return "true or false, default true (models saved before this field existed: false)";
  const range = PROBABILITY_FIELDS.includes(field) ? "from 0 (inclusive) to 1 (exclusive)" : boundsText(field as BoundedField);
  return `${range}, default ${(DEFAULT_VCM_CONFIG[field] as number).toLocaleString("en-US")}`;
}

/** "1 to 10,000": a field's range in words, for error sentences, the schema and the CLI's help. */
export function boundsText(field: BoundedField): string {
  const { min, max } = VCM_CONFIG_BOUNDS[field];
  const words = (n: number): string => n.toLocaleString("en-US");
  return min === Number.MIN_VALUE ? `above 0, at most ${words(max)}` : `${words(min)} to ${words(max)}`;
}

function checkBounds(c: Record<string, unknown>, field: BoundedField): void {
  const { min, max, integer } = VCM_CONFIG_BOUNDS[field];
  const v = c[field];
  const ok = typeof v === "number" && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v));
  if (!ok) bad(`${field} must be ${integer ? "an integer" : "a number"} from ${boundsText(field)}, got ${JSON.stringify(v)}`);
}

/**
 * Fills a partial configuration with the defaults (the variant's own, VARIANT_DEFAULTS, over
 * DEFAULT_VCM_CONFIG) and rejects any value training could not use.
 */
export function resolveVcmConfig(partial: Partial<VcmConfig> | Readonly<Record<string, unknown>> = {}): VcmConfig {
  const known = new Set(Object.keys(DEFAULT_VCM_CONFIG));
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) bad(`unknown configuration field "${key}"; known fields: ${[...known].join(", ")}`);
  }
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const variant = (defined.variant ?? DEFAULT_VCM_CONFIG.variant) as Variant;
  if (!VARIANTS.includes(variant)) {
    bad(`unknown variant "${String(variant)}"; choose one of ${VARIANTS.join(", ")}`);
  }
  const c = { ...DEFAULT_VCM_CONFIG, ...VARIANT_DEFAULTS[variant], ...defined } as Record<string, unknown>;
  for (const field of Object.keys(VCM_CONFIG_BOUNDS) as BoundedField[]) {
    if (field !== "patience" || c.patience !== null) checkBounds(c, field);
  }
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) {
    bad("dropout must be a number from 0 (inclusive) to 1 (exclusive)");
  }
  if (typeof c.sdaeCorruption !== "number" || !(c.sdaeCorruption >= 0 && c.sdaeCorruption < 1)) {
    bad("sdaeCorruption must be a number from 0 (inclusive) to 1 (exclusive)");
  }
  if (typeof c.deepconnDropout !== "number" || !(c.deepconnDropout >= 0 && c.deepconnDropout < 1)) {
    bad(`deepconnDropout must be a number from 0 (inclusive) to 1 (exclusive), got ${JSON.stringify(c.deepconnDropout)}`);
  }
  if (!BASELINE_OPTIMIZERS.includes(c.baselineOptimizer as BaselineOptimizer)) {
    bad(`baselineOptimizer must be one of ${BASELINE_OPTIMIZERS.join(", ")}, got ${JSON.stringify(c.baselineOptimizer)}`);
  }
  if (typeof c.tiedWeights !== "boolean") {
    bad(`tiedWeights must be true or false, got ${JSON.stringify(c.tiedWeights)}`);
  }
  if ((c.confidenceUnobserved as number) > (c.confidenceObserved as number)) {
    bad("confidenceUnobserved (b) must not exceed confidenceObserved (a): an unobserved entry cannot be surer than a click");
  }
  return Object.freeze(c as unknown as VcmConfig);
}

/**
 * resolveVcmConfig for a configuration stored with a model or a job: a field it lacks because it was
 * written before the field existed takes what training did then (STORED_CONFIG_DEFAULTS), not today's
 * default, so an old checkpoint loads with its own weights and says how it was trained.
 */
export function resolveStoredVcmConfig(stored: Readonly<Record<string, unknown>>): VcmConfig {
  return resolveVcmConfig({ ...STORED_CONFIG_DEFAULTS, ...stored });
}

function bad(sentence: string): never {
  throw new UserError(ErrorCode.BAD_USER_INPUT, sentence);
}
