/**
 * The training configuration's fields, one table per model family: each field once, with its kind,
 * default, bounds, description and the variants that read it. Defaults, validation (config.ts), the
 * CLI's flags (scripts/commands/config-flags.ts), the GraphQL inputs (graphql/types/config-inputs.ts)
 * and the parameter tables of docs/cli.md (scripts/config-tables.ts) are all derived from these tables.
 */
import type { BaselineVariant, Variant } from "./types.ts";

/**
 * What a field takes: an integer or number within [min, max], a probability 0 ≤ p < 1, one of `values`,
 * or true / false.
 */
export type ConfigFieldKind = "int" | "float" | "probability" | "enum" | "boolean";

/** One configuration field as the tables declare it. */
export interface ConfigField {
  readonly kind: ConfigFieldKind;
  /** The value an omitted field takes (null: the feature is off, as patience's "never stop early"). */
  readonly default: number | string | boolean | null;
  /** Inclusive bounds of an int or float field; Number.MIN_VALUE as min means "above 0". */
  readonly min?: number;
  readonly max?: number;
  /** The names an enum field takes. */
  readonly values?: ReadonlyArray<string>;
  /** What the field is, in one sentence without its range or default (those are derived). */
  readonly description: string;
  /** The variants whose training reads the field. */
  readonly variants: ReadonlyArray<Variant>;
  /** Defaults that differ by variant, over `default` (DeepCoNN's paper trains with RMSprop at 0.002). */
  readonly variantDefaults?: Readonly<Partial<Record<Variant, number | string | boolean>>>;
  /** What a configuration stored before the field existed trained with, where that differs from `default`. */
  readonly storedDefault?: number | string | boolean;
  /** The field fixes the shape of a weight, so a warm start (TrainOptions.from) must keep the saved model's value. */
  readonly shapesWeights?: true;
  /**
   * A value other than the default is refused for a variant that does not read the field (instead of being
   * ignored), because it changes what training does and a run silently without it would mislead.
   */
  readonly refusedUnread?: true;
  /** Whether the field is set by a CLI flag and a GraphQL input field; evalBatchSize is not, it bounds memory only. */
  readonly input?: false;
  /**
   * The range `vcm experiment --tune` searches for the variants that read the field: the learning rate and
   * each family's main regularisation weights; "log" draws uniformly in log space (rates and precisions span decades).
   */
  readonly tune?: { readonly min: number; readonly max: number; readonly scale: "log" | "linear" };
}

/** The optimisers a baseline's networks can train with. */
export type BaselineOptimizer = "adam" | "rmsprop";
export const BASELINE_OPTIMIZERS: ReadonlyArray<BaselineOptimizer> = ["adam", "rmsprop"];

/** Where sampledSoftmax draws its negatives from (models/vcm/sampling.ts). */
export type SampledProposal = "uniform" | "popularity";
export const SAMPLED_PROPOSALS: ReadonlyArray<SampledProposal> = ["uniform", "popularity"];

const VCM_VARIANTS = ["vcm", "vcm-se", "vcm-od", "vcm-nv"] as const satisfies ReadonlyArray<Variant>;
const BASELINES = ["cdl", "cvae", "deepconn"] as const satisfies ReadonlyArray<BaselineVariant>;
const TRAINED = [...VCM_VARIANTS, ...BASELINES] as const;
const CDL_CVAE = ["cdl", "cvae"] as const satisfies ReadonlyArray<BaselineVariant>;
const INT32 = { min: -2_147_483_648, max: 2_147_483_647 } as const;

/**
 * The VCM family's fields (the paper's settings, docs/model.md §1), and the training loop's that every trained
 * variant reads; the bounds are wide enough for any real run and narrow enough that a typo
 * (hiddenX: 2000000000) is refused before any work instead of failing deep inside training.
 */
export const VCM_CONFIG_FIELDS = Object.freeze({
  latentDim: { kind: "int", default: 100, shapesWeights: true, min: 1, max: 1_000, variants: VCM_VARIANTS, description: "Size K of both latent Gaussians (μ and log σ² each have K entries)" },
  hiddenX: { kind: "int", default: 600, shapesWeights: true, min: 1, max: 10_000, variants: VCM_VARIANTS, description: "Width of VAEx's hidden layers, encoder and decoder (600 in the paper)" },
  hiddenY: { kind: "int", default: 500, shapesWeights: true, min: 1, max: 10_000, variants: VCM_VARIANTS, description: "Width of VAEy's encoder hidden layer (500 in the paper)" },
  dropout: { kind: "probability", default: 0.5, variants: VCM_VARIANTS, description: "Probability of dropping each click of VAEx's row-normalised input during training" },
  beta: { kind: "float", default: 0.4, min: 0, max: 100, variants: VCM_VARIANTS, tune: { min: 0.05, max: 1, scale: "linear" }, description: "Final weight β of every KL term; the weight is min(β, step / annealSteps), so β is reached after β × annealSteps steps" },
  annealSteps: { kind: "int", default: 40_000, min: 1, max: 100_000_000, variants: VCM_VARIANTS, description: "Optimiser steps over which the KL weight would rise from 0 to 1 (capped at β); 1 gives a constant β" },
  epochs: { kind: "int", default: 200, min: 1, max: 10_000, variants: TRAINED, description: "Passes over the training users (vcm-od: of each of its two phases, reporting only the second)" },
  batchSize: { kind: "int", default: 128, min: 1, max: 100_000, variants: TRAINED, description: "Users per optimiser step" },
  learningRate: {
    kind: "float",
    default: 0.001,
    min: Number.MIN_VALUE,
    max: 10,
    variants: TRAINED,
    variantDefaults: { deepconn: 0.002 },
    tune: { min: 1e-4, max: 1e-2, scale: "log" },
    description: "Step size of the optimiser: Adam's for VCM; for the baselines, that of baselineOptimizer (deepconn's default is its paper's RMSprop rate)",
  },
  seed: { kind: "int", default: 1, ...INT32, variants: TRAINED, description: "Seed of every random choice (initial weights, user order, dropout, ε), so a run can be repeated" },
  patience: { kind: "int", default: null, min: 1, max: 10_000, variants: TRAINED, description: "Stop after this many epochs without a better validation NDCG@100 (unset: train every epoch)" },
  sampledSoftmax: {
    kind: "int",
    default: null,
    min: 1,
    max: 1_000_000,
    variants: VCM_VARIANTS,
    refusedUnread: true,
    description:
      "Negatives drawn per training step, shared by the batch, for a sampled softmax with logQ correction in both decoders' likelihoods (unset: the paper's full softmax); evaluation and serving always score every item",
  },
  sampledProposal: {
    kind: "enum",
    default: "uniform",
    values: SAMPLED_PROPOSALS,
    variants: VCM_VARIANTS,
    refusedUnread: true,
    description: "How sampledSoftmax draws its negatives: uniformly, or in proportion to each item's (word's) training count plus one",
  },
  evalBatchSize: { kind: "int", default: 512, min: 1, max: 100_000, variants: TRAINED, input: false, description: "Users per forward pass when predicting or evaluating (bounds memory, not results)" },
} as const satisfies Record<string, ConfigField>);

/** The paper baselines' fields (engine/models/baselines/, docs/cli.md "Baselines"); the VCM variants ignore them. */
export const BASELINE_CONFIG_FIELDS = Object.freeze({
  baselineLatentDim: { kind: "int", default: 50, min: 1, max: 1_000, variants: BASELINES, description: "Size K of the user and item factors (DeepCoNN's |x_u| = |y_i|; papers: 50)" },
  confidenceObserved: { kind: "float", default: 1, min: Number.MIN_VALUE, max: 1_000_000, variants: CDL_CVAE, description: "Confidence a of an observed click (papers: 1)" },
  confidenceUnobserved: { kind: "float", default: 0.01, min: 0, max: 1_000_000, variants: CDL_CVAE, description: "Confidence b of an unobserved entry, at most confidenceObserved (papers: 0.01)" },
  textOffsetReg: { kind: "float", default: 10, min: Number.MIN_VALUE, max: 1_000_000, variants: CDL_CVAE, tune: { min: 0.1, max: 100, scale: "log" }, description: "Precision λv of a user factor around its text network's output" },
  itemFactorReg: { kind: "float", default: 0.1, min: Number.MIN_VALUE, max: 1_000_000, variants: CDL_CVAE, tune: { min: 0.01, max: 10, scale: "log" }, description: "Prior precision λu of the item factors" },
  weightDecay: { kind: "float", default: 1e-4, min: 0, max: 1_000, variants: CDL_CVAE, description: "Weight decay λw of the text networks" },
  textPretrainEpochs: { kind: "int", default: 0, min: 0, max: 10_000, variants: CDL_CVAE, description: "Epochs of the text network alone before the alternation, as the authors' code pretrains it (0: none)" },
  sdaeHidden: { kind: "int", default: 200, min: 1, max: 10_000, variants: ["cdl"], description: "Width of the SDAE's hidden layers" },
  sdaeCorruption: { kind: "probability", default: 0.3, variants: ["cdl"], description: "Masking noise: share of a user's words zeroed in the SDAE's input" },
  sdaeReconWeight: { kind: "float", default: 1_000, min: 0, max: 1_000_000, variants: ["cdl"], description: "Weight λn of the SDAE's reconstruction error" },
  cvaeHiddenOuter: { kind: "int", default: 200, min: 1, max: 10_000, variants: ["cvae"], description: "Width of the inference network's first hidden layer (the generation network's last)" },
  cvaeHiddenInner: { kind: "int", default: 100, min: 1, max: 10_000, variants: ["cvae"], description: "Width of the inference network's second hidden layer (the generation network's first)" },
  cvaeTextWeight: { kind: "float", default: 1, min: 0, max: 1_000_000, variants: ["cvae"], description: "Weight λr of the text ELBO against the clicks" },
  deepconnEmbedding: { kind: "int", default: 100, min: 1, max: 1_000, variants: ["deepconn"], description: "Width of the word embeddings, learned from scratch" },
  deepconnFilters: { kind: "int", default: 100, min: 1, max: 1_000, variants: ["deepconn"], description: "Convolution filters per text network" },
  deepconnWindow: { kind: "int", default: 3, min: 1, max: 20, variants: ["deepconn"], description: "Words per convolution window" },
  deepconnFmFactors: { kind: "int", default: 8, min: 1, max: 1_000, variants: ["deepconn"], description: "Pairwise factors of the factorization machine" },
  deepconnTokens: { kind: "int", default: 64, min: 1, max: 10_000, variants: ["deepconn"], description: "Tokens per text: the user's (item's) distinct words by descending count" },
  negatives: { kind: "int", default: 4, min: 1, max: 100, variants: ["deepconn"], description: "Sampled negative items per training click (the logistic loss)" },
  deepconnNegativePool: { kind: "int", default: 512, min: 1, max: 1_000_000, variants: ["deepconn"], description: "Items drawn per batch from which the negatives are chosen, which bounds the item texts a step encodes" },
  baselineOptimizer: {
    kind: "enum",
    default: "adam",
    values: BASELINE_OPTIMIZERS,
    variants: BASELINES,
    variantDefaults: { deepconn: "rmsprop" },
    storedDefault: "adam",
    description: "Optimiser of the networks at the learning rate (deepconn's default is its paper's)",
  },
  deepconnDropout: {
    kind: "probability",
    default: 0.5,
    storedDefault: 0,
    variants: ["deepconn"],
    tune: { min: 0, max: 0.7, scale: "linear" },
    description: "Dropout on both text networks' outputs during training, before the factorization machine (paper: 0.5)",
  },
  tiedWeights: {
    kind: "boolean",
    default: true,
    storedDefault: false,
    variants: CDL_CVAE,
    description: "Decoder's outer layers tied to the encoder's transposes, as the authors' codes do",
  },
} as const satisfies Record<string, ConfigField>);

/** Every field of both families, VCM's first. */
export const CONFIG_FIELDS: Readonly<Record<ConfigFieldName, ConfigField>> = Object.freeze({ ...VCM_CONFIG_FIELDS, ...BASELINE_CONFIG_FIELDS });

export type VcmFieldName = keyof typeof VCM_CONFIG_FIELDS;
export type BaselineFieldName = keyof typeof BASELINE_CONFIG_FIELDS;
export type ConfigFieldName = VcmFieldName | BaselineFieldName;

type AllFields = typeof VCM_CONFIG_FIELDS & typeof BASELINE_CONFIG_FIELDS;

/** The TypeScript type of a field's value, from its row. */
type ValueOf<F> = F extends { kind: "boolean" }
  ? boolean
  : F extends { kind: "enum"; values: ReadonlyArray<infer V> }
    ? V
    : F extends { default: null }
      ? number | null
      : number;

/** The configuration of the fields named N, each typed by its row. */
export type ConfigOf<N extends ConfigFieldName> = { readonly [K in N]: ValueOf<AllFields[K]> };

/** The names of the fields that variant V reads. */
export type FieldsOf<V extends Variant> = { [K in ConfigFieldName]: V extends AllFields[K]["variants"][number] ? K : never }[ConfigFieldName];

/** What a field takes and defaults to, in words: "an integer from 1 to 1,000, default 100". */
export function boundsText(field: ConfigField): string {
  const words = (n: number): string => n.toLocaleString("en-US");
  if (field.kind === "probability") return "from 0 (inclusive) to 1 (exclusive)";
  if (field.kind === "enum") return `one of ${(field.values ?? []).join(", ")}`;
  if (field.kind === "boolean") return "true or false";
  const { min = 0, max = 0 } = field;
  return min === Number.MIN_VALUE ? `above 0, at most ${words(max)}` : `${words(min)} to ${words(max)}`;
}

/** A field's default in words, with the variants whose own default differs and what stored configurations assume. */
export function defaultText(field: ConfigField): string {
  const show = (v: number | string | boolean | null): string => (v === null ? "unset" : typeof v === "number" ? v.toLocaleString("en-US", { maximumSignificantDigits: 6 }) : String(v));
  const byVariant = Object.entries(field.variantDefaults ?? {}).map(([variant, v]) => `; ${variant}: ${show(v)}`);
  const stored = field.storedDefault === undefined ? "" : `; models saved before this field existed: ${show(field.storedDefault)}`;
  return `${show(field.default)}${byVariant.join("")}${stored}`;
}

/** A field in one sentence for help texts and schema descriptions: what it is, its range, its default and who reads it. */
export function fieldText(field: ConfigField): string {
  return `${field.description}; ${boundsText(field)}, default ${defaultText(field)}; read by ${field.variants.join(", ")}`;
}
