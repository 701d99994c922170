/**
 * Quantile cohorts and item popularity cohorts on hand-made lists (issue 28, item 3): the cuts below
 * are worked out by hand in the comments.
 */
import { describe, expect, it } from "vitest";
import { popularityCohorts, quantileBoundaries } from "../../src/engine/cohort-groupings.ts";

// 10 users, 37 training clicks; levels 1 ×2, 2 ×3, 3, 4 ×2, 8, 10.
const ACTIVITY = [4, 1, 2, 10, 2, 3, 8, 1, 4, 2];

describe("quantileBoundaries", () => {
  it("cuts into groups of equal users, keeping the users tied at a cut together", () => {
    // 2 groups: the first 5 users (1, 1, 2, 2, 2) reach half → cut before 3.
    expect(quantileBoundaries({ activity: ACTIVITY, groups: 2, weight: "users" })).toEqual([3]);
    // 3 groups: a third is 3.33 users; the three users at 2 stay together (5 users), then 3, 4, 4 reach 8 ≥ 6.67 → [3, 8].
    expect(quantileBoundaries({ activity: ACTIVITY, groups: 3, weight: "users" })).toEqual([3, 8]);
  });

  it("cuts into groups of equal training clicks", () => {
    // Cumulative clicks by level: 2, 8, 11, 19, 27, 37. Half (18.5) is passed at level 4 → cut before 8: 19 | 18.
    expect(quantileBoundaries({ activity: ACTIVITY, groups: 2, weight: "interactions" })).toEqual([8]);
    // Thirds (12.33, 24.67): passed at level 4 (19) and level 8 (27) → [8, 10]: 19 | 8 | 10 clicks.
    expect(quantileBoundaries({ activity: ACTIVITY, groups: 3, weight: "interactions" })).toEqual([8, 10]);
  });

  it("gives fewer groups when a tie spans a cut, and never an empty group", () => {
    // Four users tied at 5 hold 80 % of the users: no cut can split them, so one group.
    expect(quantileBoundaries({ activity: [5, 5, 1, 5, 5], groups: 2, weight: "users" })).toEqual([]);
    // More groups than levels: one group per level at most.
    expect(quantileBoundaries({ activity: [1, 2, 3], groups: 10, weight: "users" })).toEqual([2, 3]);
    expect(quantileBoundaries({ activity: [], groups: 5, weight: "interactions" })).toEqual([]);
  });
});

describe("popularityCohorts", () => {
  // 30 clicks; ranked: 10 | 6 6 | 3 | 2 | 1 1 1 | 0.
  const CLICKS = [10, 6, 6, 3, 2, 1, 1, 1, 0];

  it("puts the most clicked items reaching the head share in the head, the least within the tail share in the tail", () => {
    // Head: 10 ≥ 6 (20 %). Tail within 6: 0, then 1+1+1 = 3, then 2 → 5; 3 more would be 8 > 6.
    expect(Array.from(popularityCohorts({ clicks: CLICKS, headShare: 0.2, tailShare: 0.2 }))).toEqual([0, 1, 1, 1, 2, 2, 2, 2, 2]);
    // Tail within 3 (10 %): the never-clicked item and the three items with 1 click.
    expect(Array.from(popularityCohorts({ clicks: CLICKS, headShare: 0.2, tailShare: 0.1 }))).toEqual([0, 1, 1, 1, 1, 2, 2, 2, 2]);
  });

  it("keeps items with equal clicks in one cohort", () => {
    // Head share 40 % = 12: 10 is not enough, so both items with 6 clicks join (22 clicks).
    expect(Array.from(popularityCohorts({ clicks: CLICKS, headShare: 0.4, tailShare: 0.2 }))).toEqual([0, 0, 0, 1, 2, 2, 2, 2, 2]);
    // A tail share of 0 still holds the items nobody clicked.
    expect(Array.from(popularityCohorts({ clicks: CLICKS, headShare: 0.2, tailShare: 0 }))).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 2]);
  });
});
