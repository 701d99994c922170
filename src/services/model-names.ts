/**
 * The names a user may give for variants, prediction modes and metrics (CLI flags, GraphQL
 * arguments), each checked with a sentence that lists the choices.
 */
import { capabilitiesOf, VARIANTS, type PredictionMode, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";

/** The paper's cut-offs R for NDCG@R and Recall@R. */
export const METRIC_CUTOFFS: ReadonlyArray<number> = [10, 20, 50, 100];

/** Every metric name, in display order: ndcg@10 … ndcg@100, recall@10 … recall@100. */
export const METRIC_NAMES: ReadonlyArray<string> = [
  ...METRIC_CUTOFFS.map((k) => `ndcg@${k}`),
  ...METRIC_CUTOFFS.map((k) => `recall@${k}`),
];

export const PREDICTION_MODES: ReadonlyArray<PredictionMode> = ["vcm", "vcm-cd"];

/**
 * Whether a variant ranks from a user's words alone, the vcm-cd (review2click) mode: VCM's VAEy, or a
 * baseline's text network (engine/types.ts VARIANT_CAPABILITIES reviewToClick).
 */
export function hasTextModel(variant: Variant): boolean {
  return capabilitiesOf(variant).reviewToClick;
}

/**
 * Whether a variant maps clicks to words (click2review: word distributions, explanations, highlights);
 * only the VCM variants do (VARIANT_CAPABILITIES clickToReview), the baselines rank from text but decode none.
 */
export function hasWordModel(variant: Variant): boolean {
  return capabilitiesOf(variant).clickToReview;
}

/** Checks a variant name from the outside world. */
export function parseVariant(name: string): Variant {
  if (!VARIANTS.includes(name as Variant)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown variant "${name}"; choose one of ${VARIANTS.join(", ")}.`);
  }
  return name as Variant;
}

/** Checks a prediction mode name from the outside world. */
export function parseMode(name: string): PredictionMode {
  if (!PREDICTION_MODES.includes(name as PredictionMode)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown mode "${name}"; choose one of ${PREDICTION_MODES.join(", ")}.`);
  }
  return name as PredictionMode;
}

/** Checks a metric name (ndcg@R or recall@R for R in 10, 20, 50, 100). */
export function parseMetric(name: string): string {
  const normalised = name.trim().toLowerCase();
  if (!METRIC_NAMES.includes(normalised)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown metric "${name}"; choose one of ${METRIC_NAMES.join(", ")}.`);
  }
  return normalised;
}
