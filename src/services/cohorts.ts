/**
 * Cohort analysis as in the paper's Table 3: test users grouped by activity (their number of
 * training clicks), with mean capacity ĉu, NDCG@10 and Recall@20 per cohort, optionally against a
 * second model over the same users.
 */
import { ErrorCode, UserError } from "../errors.ts";
import { meanDefined } from "../engine/metrics.ts";

/** The paper's Table 3 activity boundaries. */
export const DEFAULT_COHORT_BOUNDARIES: ReadonlyArray<number> = Object.freeze([5, 20, 40, 60, 80]);

/** At most this many boundaries (so at most one more cohort), which keeps answers readable. */
export const MAX_COHORT_BOUNDARIES = 50;

/** Per-user figures of one model on the test split, in the same user order for every model. */
export interface PerUserEvaluation {
  /** Dataset rows of the test users (users with at least one test click). */
  readonly rows: Int32Array;
  /** Training clicks of each test user: the activity level cohorts are formed on. */
  readonly activity: Int32Array;
  /** ĉu = KL(q(z|x_u) ‖ N(0, I)) of each test user (NaN for models without an encoder). */
  readonly capacity: Float64Array;
  /** NDCG@10 on the test split of each user. */
  readonly ndcg10: Float64Array;
  /** Recall@20 on the test split of each user. */
  readonly recall20: Float64Array;
}

/** One activity cohort of one model. */
export interface CohortFigures {
  /** Smallest number of training clicks in the cohort. */
  readonly minClicks: number;
  /** Largest number of training clicks in the cohort, or null for the open-ended last cohort. */
  readonly maxClicks: number | null;
  /** Test users in the cohort. */
  readonly userCount: number;
  /** Mean ĉu over the cohort (null when empty or the model has no encoder). */
  readonly meanCapacity: number | null;
  /** Mean NDCG@10 over the cohort (null when empty). */
  readonly ndcg10: number | null;
  /** Mean Recall@20 over the cohort (null when empty). */
  readonly recall20: number | null;
}

/** Rejects boundaries that are not strictly ascending positive integers. */
export function validateBoundaries(boundaries: ReadonlyArray<number>): ReadonlyArray<number> {
  if (boundaries.length === 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "boundaries must list at least one number of training clicks, e.g. [5, 20, 40, 60, 80].");
  }
  if (boundaries.length > MAX_COHORT_BOUNDARIES) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `boundaries may list at most ${MAX_COHORT_BOUNDARIES} numbers; got ${boundaries.length}.`);
  }
  boundaries.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `boundaries must be positive integers; boundary ${i + 1} is ${b}.`);
    }
    if (i > 0 && b <= boundaries[i - 1]) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `boundaries must be strictly ascending; ${b} follows ${boundaries[i - 1]}.`,
      );
    }
  });
  return boundaries;
}

/** Index of the cohort of a user with this many training clicks: cohort j holds [b_{j−1}, b_j). */
export function cohortIndex(activity: number, boundaries: ReadonlyArray<number>): number {
  let j = 0;
  while (j < boundaries.length && activity >= boundaries[j]) j += 1;
  return j;
}

/** Groups per-user figures into cohorts: [0, b0), [b0, b1), …, [b_last, ∞). */
export function summariseCohorts(options: {
  evaluation: PerUserEvaluation;
  boundaries: ReadonlyArray<number>;
}): CohortFigures[] {
  const { evaluation, boundaries } = options;
  const members: number[][] = Array.from({ length: boundaries.length + 1 }, () => []);
  for (let u = 0; u < evaluation.rows.length; u += 1) {
    members[cohortIndex(evaluation.activity[u], boundaries)].push(u);
  }
  return members.map((users, j) => {
    const pick = (values: Float64Array): number | null => {
      const mean = meanDefined(users.map((u) => values[u]));
      return Number.isFinite(mean) ? mean : null;
    };
    return {
      minClicks: j === 0 ? 0 : boundaries[j - 1],
      maxClicks: j === boundaries.length ? null : boundaries[j] - 1,
      userCount: users.length,
      meanCapacity: pick(evaluation.capacity),
      ndcg10: pick(evaluation.ndcg10),
      recall20: pick(evaluation.recall20),
    };
  });
}

/** (value − baseline) / baseline, or null when either is missing or the baseline is 0. */
export function relativeChange(value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null || baseline === 0) return null;
  return (value - baseline) / baseline;
}
