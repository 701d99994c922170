/**
 * Pure groupings for cohort analysis (docs/model.md §Cohorts): users cut into quantile groups by
 * training activity (the sparsity groups of NGCF and LightGCN), and items cut into head / torso /
 * tail by their share of training clicks (Abdollahpouri et al., "Managing Popularity Bias in
 * Recommender Systems with Personalized Re-ranking", FLAIRS 2019).
 */

/** What a quantile group holds an equal share of: test users, or their training clicks. */
export type QuantileWeight = "users" | "interactions";

/**
 * Boundaries (in training clicks, cohort j holds [b_{j−1}, b_j)) that split the activity list into
 * `groups` groups of about equal users or equal total interactions. A cut is only made between two
 * distinct activity levels, so users tied at a boundary stay in one group; a group that would hold
 * only part of a tie is merged, so fewer groups than asked can come back, and none is empty.
 */
export function quantileBoundaries(options: { activity: ArrayLike<number>; groups: number; weight: QuantileWeight }): number[] {
  const { groups, weight } = options;
  const levels = new Map<number, number>();
  let total = 0;
  for (let u = 0; u < options.activity.length; u += 1) {
    const a = options.activity[u];
    const w = weight === "users" ? 1 : a;
    levels.set(a, (levels.get(a) ?? 0) + w);
    total += w;
  }
  const values = [...levels.keys()].sort((x, y) => x - y);
  const boundaries: number[] = [];
  let cumulative = 0;
  let next = 1;
  for (let i = 0; i + 1 < values.length && next < groups; i += 1) {
    cumulative += levels.get(values[i])!;
    // Compared as cumulative / total ≥ next / groups without division, so equal shares cut exactly.
    if (cumulative * groups >= next * total) {
      boundaries.push(values[i + 1]);
      while (next < groups && cumulative * groups >= next * total) next += 1;
    }
  }
  return boundaries;
}

/** Item popularity cohorts, in this order. */
export const ITEM_COHORTS = ["head", "torso", "tail"] as const;
export type ItemCohortName = (typeof ITEM_COHORTS)[number];

/**
 * Each item's popularity cohort: 0 head, 1 torso, 2 tail. Items are ranked by training clicks; the
 * head is the most clicked items until their clicks reach `headShare` of all clicks, the tail the
 * least clicked items whose clicks together stay within `tailShare` (items never clicked are always
 * tail), the torso the rest. Items with equal clicks are never split between two cohorts.
 */
export function popularityCohorts(options: { clicks: ArrayLike<number>; headShare: number; tailShare: number }): Uint8Array {
  const { clicks } = options;
  const n = clicks.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => clicks[b] - clicks[a] || a - b);
  let total = 0;
  for (let i = 0; i < n; i += 1) total += clicks[i];
  const cohort = new Uint8Array(n).fill(1);
  // Runs of equal clicks in the ranking, so that ties move together.
  const runs: Array<{ start: number; end: number; clicks: number }> = [];
  for (let s = 0; s < n; ) {
    let e = s + 1;
    while (e < n && clicks[order[e]] === clicks[order[s]]) e += 1;
    runs.push({ start: s, end: e, clicks: clicks[order[s]] * (e - s) });
    s = e;
  }
  let head = 0;
  let headRuns = 0;
  while (headRuns < runs.length && head < options.headShare * total) {
    head += runs[headRuns].clicks;
    headRuns += 1;
  }
  let tail = 0;
  for (let r = runs.length - 1; r >= headRuns; r -= 1) {
    if (runs[r].clicks > 0 && tail + runs[r].clicks > options.tailShare * total) break;
    tail += runs[r].clicks;
    for (let p = runs[r].start; p < runs[r].end; p += 1) cohort[order[p]] = 2;
  }
  for (let r = 0; r < headRuns; r += 1) for (let p = runs[r].start; p < runs[r].end; p += 1) cohort[order[p]] = 0;
  return cohort;
}
