/**
 * The VCM training configuration: one interface, its defaults (the paper's settings, DESIGN.md §2)
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
  /** Adam's step size. */
  readonly learningRate: number;
  /** Seed of every random choice (initial weights, user order, dropout, ε), so a run can be repeated. */
  readonly seed: number;
  /** Stop after this many epochs without a better validation NDCG@100; null trains every epoch. */
  readonly patience: number | null;
  /** Users per forward pass when predicting or evaluating (bounds memory, not results). */
  readonly evalBatchSize: number;
}

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
});

const POSITIVE_INTEGERS = ["latentDim", "hiddenX", "hiddenY", "annealSteps", "epochs", "batchSize", "evalBatchSize"] as const;

/** Fills a partial configuration with the defaults and rejects any value training could not use. */
export function resolveVcmConfig(partial: Partial<VcmConfig> | Readonly<Record<string, unknown>> = {}): VcmConfig {
  const known = new Set(Object.keys(DEFAULT_VCM_CONFIG));
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) bad(`unknown configuration field "${key}"; known fields: ${[...known].join(", ")}`);
  }
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const c = { ...DEFAULT_VCM_CONFIG, ...defined } as Record<string, unknown>;
  if (!VARIANTS.includes(c.variant as Variant)) {
    bad(`unknown variant "${String(c.variant)}"; choose one of ${VARIANTS.join(", ")}`);
  }
  for (const key of POSITIVE_INTEGERS) {
    if (!Number.isInteger(c[key]) || (c[key] as number) <= 0) bad(`${key} must be a positive integer`);
  }
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) {
    bad("dropout must be a number from 0 (inclusive) to 1 (exclusive)");
  }
  if (typeof c.beta !== "number" || !(c.beta >= 0) || !Number.isFinite(c.beta)) bad("beta must be a finite number ≥ 0");
  if (typeof c.learningRate !== "number" || !(c.learningRate > 0) || !Number.isFinite(c.learningRate)) {
    bad("learningRate must be a finite number > 0");
  }
  if (!Number.isInteger(c.seed)) bad("seed must be an integer");
  if (c.patience !== null && (!Number.isInteger(c.patience) || (c.patience as number) <= 0)) {
    bad("patience must be a positive integer, or null to train every epoch");
  }
  return Object.freeze(c as unknown as VcmConfig);
}

function bad(sentence: string): never {
  throw new UserError(ErrorCode.BAD_USER_INPUT, sentence);
}
