/**
 * Coverage, ARP, APLT, novelty and the item cohorts' accuracy against a hand calculation on 5 items
 * and 8 training users (issue 28, item 4).
 */
import { describe, expect, it } from "vitest";
import { beyondAccuracyPerUser, catalogueCoverage, itemCohortAccuracy, type TopLists } from "../../src/engine/beyond-accuracy.ts";

// Training clicks of items 0…4 (8 training users); items 2, 3, 4 are the long tail.
const ITEM_CLICKS = [4, 2, 1, 1, 0];
const TAIL = [0, 0, 1, 1, 1];
// Three users' top 3: [0, 1, 2], [0, 3], nothing.
const LISTS: TopLists = { items: Int32Array.from([0, 1, 2, 0, 3, -1, -1, -1, -1]), stride: 3 };

describe("beyond-accuracy metrics", () => {
  it("ARP, APLT and novelty per user equal the hand calculation", () => {
    const at3 = beyondAccuracyPerUser({ lists: LISTS, k: 3, itemClicks: ITEM_CLICKS, users: 8, tail: TAIL });
    // ARP: (4 + 2 + 1) / 3 and (4 + 1) / 2.
    expect(at3.arp[0]).toBeCloseTo(7 / 3, 12);
    expect(at3.arp[1]).toBeCloseTo(2.5, 12);
    // APLT: item 2 of three, item 3 of two.
    expect(at3.aplt[0]).toBeCloseTo(1 / 3, 12);
    expect(at3.aplt[1]).toBeCloseTo(0.5, 12);
    // Novelty: −log2(4/8) = 1, −log2(2/8) = 2, −log2(1/8) = 3 → (1 + 2 + 3) / 3 and (1 + 3) / 2.
    expect(at3.novelty[0]).toBeCloseTo(2, 12);
    expect(at3.novelty[1]).toBeCloseTo(2, 12);
    // An empty list is not counted.
    expect([at3.arp[2], at3.aplt[2], at3.novelty[2]].every(Number.isNaN)).toBe(true);
    // The top 2 only: items 0 and 1.
    const at2 = beyondAccuracyPerUser({ lists: LISTS, k: 2, itemClicks: ITEM_CLICKS, users: 8, tail: TAIL });
    expect([at2.arp[0], at2.aplt[0], at2.novelty[0]]).toEqual([3, 0, 1.5]);
  });

  it("counts an item nobody clicked as clicked by one user, so its novelty is finite", () => {
    const lone = beyondAccuracyPerUser({ lists: { items: Int32Array.from([4]), stride: 1 }, k: 1, itemClicks: ITEM_CLICKS, users: 8, tail: TAIL });
    expect([lone.arp[0], lone.aplt[0], lone.novelty[0]]).toEqual([0, 1, 3]);
  });

  it("catalogue coverage is distinct recommended items over the catalogue", () => {
    expect(catalogueCoverage({ lists: LISTS, k: 3, numItems: 5 })).toBeCloseTo(4 / 5, 12);
    expect(catalogueCoverage({ lists: LISTS, k: 1, numItems: 5 })).toBeCloseTo(1 / 5, 12);
    expect(catalogueCoverage({ lists: LISTS, k: 3, numItems: 5, members: [1] })).toBeCloseTo(2 / 5, 12);
  });

  it("item cohorts: recall pooled over held-out clicks and the share of recommendation slots", () => {
    // Held out: user 0 items 2 and 4, user 1 items 3 and 1, user 2 item 0. Cohorts: item 0 head, 1 torso, 2–4 tail.
    const heldOut = { indptr: Int32Array.from([0, 2, 4, 5]), indices: Int32Array.from([2, 4, 3, 1, 0]) };
    const figures = itemCohortAccuracy({ lists: LISTS, k: 3, heldOut, cohortOf: [0, 1, 2, 2, 2], cohorts: 3 });
    // Tail: items 2 (found), 4 (not), 3 (found) → 2 / 3; torso: item 1 not in user 1's list; head: user 2 has no list.
    expect(figures.map((f) => [f.heldOutClicks, f.hits])).toEqual([[1, 0], [1, 0], [3, 2]]);
    expect(figures[2].recall).toBeCloseTo(2 / 3, 12);
    // Slots: 0, 1, 2 and 0, 3 → head 2, torso 1, tail 2 of 5.
    expect(figures.map((f) => f.recommendationShare)).toEqual([0.4, 0.2, 0.4]);
  });
});
