/**
 * Significance of a difference between two models over the same users: the paper's paired t-test,
 * run on per-user metric values (users without held-out items are NaN in either array and skipped).
 */
import ttest from "@stdlib/stats-ttest";
import { ErrorCode, UserError } from "../errors.ts";

/** Result of a paired comparison of two per-user metric arrays. */
export interface PairedComparison {
  /** Users counted: finite values in both arrays. */
  readonly users: number;
  /** Mean of the first model's values over the counted users. */
  readonly meanA: number;
  /** Mean of the second model's values over the counted users. */
  readonly meanB: number;
  /** meanA − meanB. */
  readonly difference: number;
  /** Student's t of the paired differences (±Infinity when they are all equal and non-zero). */
  readonly statistic: number;
  /** Degrees of freedom, users − 1. */
  readonly df: number;
  /** Two-sided p-value of H0: the mean paired difference is zero. */
  readonly pValue: number;
}

/** Paired two-sided t-test of a − b over the positions where both values are finite. */
export function pairedTTest(options: { a: ArrayLike<number>; b: ArrayLike<number> }): PairedComparison {
  const { a, b } = options;
  if (a.length !== b.length) {
    throw new RangeError(`paired arrays differ in length: ${a.length} and ${b.length}`);
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < a.length; i += 1) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i])) {
      xs.push(a[i]);
      ys.push(b[i]);
    }
  }
  const users = xs.length;
  if (users < 2) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `A paired t-test needs at least 2 users with held-out items under both models; found ${users}.`,
    );
  }
  const meanA = mean(xs);
  const meanB = mean(ys);
  const difference = meanA - meanB;
  const df = users - 1;
  const diffs = xs.map((x, i) => x - ys[i]);
  const meanDiff = mean(diffs);
  const spread = Math.max(...diffs.map((d) => Math.abs(d - meanDiff)));
  if (spread <= 1e-12 * Math.max(1, Math.abs(meanDiff))) {
    // Zero variance (up to rounding): the t statistic is 0/0 or ±∞, so decide it directly.
    if (Math.abs(meanDiff) <= 1e-12) return { users, meanA, meanB, difference, statistic: 0, df, pValue: 1 };
    return { users, meanA, meanB, difference, statistic: meanDiff > 0 ? Infinity : -Infinity, df, pValue: 0 };
  }
  const result = ttest(xs, ys, { alternative: "two-sided" });
  return { users, meanA, meanB, difference, statistic: result.statistic, df: result.df, pValue: result.pValue };
}

function mean(values: ReadonlyArray<number>): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
