/**
 * Beyond-accuracy metrics of top-k lists, as docs/model.md §Beyond accuracy defines them: catalogue
 * coverage, average recommendation popularity (ARP) and average percentage of long-tail items (APLT)
 * after Abdollahpouri et al. (FLAIRS 2019), and novelty as mean self-information −log2 p(i) after
 * Zhou et al. (PNAS 2010) and Castells et al. (Recommender Systems Handbook, 2015).
 */

/** Top-k lists of several users laid out row after row, `stride` entries each, −1 past a list's end. */
export interface TopLists {
  readonly items: Int32Array;
  readonly stride: number;
}

/** The first min(k, length) items of list j. */
function listOf(lists: TopLists, j: number, k: number): Int32Array {
  const row = lists.items.subarray(j * lists.stride, j * lists.stride + Math.min(k, lists.stride));
  const end = row.indexOf(-1);
  return end === -1 ? row : row.subarray(0, end);
}

/** Per-user ARP, APLT and novelty of the top k of each list (NaN for an empty list). */
export interface PerUserBeyondAccuracy {
  /** Mean training clicks of the recommended items. */
  readonly arp: Float64Array;
  /** Share of the recommended items that are in the long tail. */
  readonly aplt: Float64Array;
  /** Mean −log2 p(i), p(i) = the item's training users / all training users. */
  readonly novelty: Float64Array;
}

/**
 * ARP, APLT and novelty of each list. `itemClicks` is each item's number of training clicks (one per
 * user and item, so also its training users), `users` the number of training users, `tail` marks
 * long-tail items. An item nobody clicked counts as clicked by one user, so its novelty is finite.
 */
export function beyondAccuracyPerUser(options: {
  lists: TopLists;
  k: number;
  itemClicks: ArrayLike<number>;
  users: number;
  tail: ArrayLike<boolean | number>;
}): PerUserBeyondAccuracy {
  const { lists, k, itemClicks, users, tail } = options;
  const n = lists.stride === 0 ? 0 : lists.items.length / lists.stride;
  const out = { arp: new Float64Array(n).fill(Number.NaN), aplt: new Float64Array(n).fill(Number.NaN), novelty: new Float64Array(n).fill(Number.NaN) };
  for (let j = 0; j < n; j += 1) {
    const list = listOf(lists, j, k);
    if (list.length === 0) continue;
    let popularity = 0;
    let longTail = 0;
    let information = 0;
    for (const item of list) {
      popularity += itemClicks[item];
      if (tail[item]) longTail += 1;
      information -= Math.log2(Math.max(1, itemClicks[item]) / users);
    }
    out.arp[j] = popularity / list.length;
    out.aplt[j] = longTail / list.length;
    out.novelty[j] = information / list.length;
  }
  return out;
}

/** Catalogue coverage at k: distinct items in the top k of the chosen lists (all by default) / catalogue size. */
export function catalogueCoverage(options: { lists: TopLists; k: number; numItems: number; members?: ReadonlyArray<number> }): number {
  const { lists, k, numItems } = options;
  const n = lists.stride === 0 ? 0 : lists.items.length / lists.stride;
  const seen = new Uint8Array(numItems);
  let distinct = 0;
  const visit = (j: number) => {
    for (const item of listOf(lists, j, k)) {
      if (seen[item] === 0) {
        seen[item] = 1;
        distinct += 1;
      }
    }
  };
  if (options.members === undefined) for (let j = 0; j < n; j += 1) visit(j);
  else for (const j of options.members) visit(j);
  return numItems === 0 ? Number.NaN : distinct / numItems;
}

/** Accuracy of the top k on the held-out clicks of each item cohort. */
export interface ItemCohortAccuracy {
  /** Held-out clicks on the cohort's items. */
  readonly heldOutClicks: number;
  /** Of those, the ones the user's top k holds. */
  readonly hits: number;
  /** hits / heldOutClicks (NaN without held-out clicks): recall pooled over users. */
  readonly recall: number;
  /** Share of all top-k slots given to the cohort's items. */
  readonly recommendationShare: number;
}

/**
 * Per item cohort, recall at k pooled over users (each held-out click on a cohort item counts once,
 * found or not) and the cohort's share of the recommendations. `heldOut` holds list j's held-out items
 * at indices[indptr[j] … indptr[j + 1]).
 */
export function itemCohortAccuracy(options: {
  lists: TopLists;
  k: number;
  heldOut: { readonly indptr: Int32Array; readonly indices: Int32Array };
  cohortOf: ArrayLike<number>;
  cohorts: number;
}): ItemCohortAccuracy[] {
  const { lists, k, heldOut, cohortOf, cohorts } = options;
  const held = new Float64Array(cohorts);
  const hits = new Float64Array(cohorts);
  const slots = new Float64Array(cohorts);
  let allSlots = 0;
  for (let j = 0; j + 1 < heldOut.indptr.length; j += 1) {
    const list = listOf(lists, j, k);
    const top = new Set(list);
    for (const item of list) slots[cohortOf[item]] += 1;
    allSlots += list.length;
    for (let p = heldOut.indptr[j]; p < heldOut.indptr[j + 1]; p += 1) {
      const item = heldOut.indices[p];
      held[cohortOf[item]] += 1;
      if (top.has(item)) hits[cohortOf[item]] += 1;
    }
  }
  return Array.from({ length: cohorts }, (_, c) => ({
    heldOutClicks: held[c],
    hits: hits[c],
    recall: held[c] === 0 ? Number.NaN : hits[c] / held[c],
    recommendationShare: allSlots === 0 ? Number.NaN : slots[c] / allSlots,
  }));
}
