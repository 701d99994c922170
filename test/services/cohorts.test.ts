import { describe, expect, it } from "vitest";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { cohortBoundaries, cohortIndex, summariseCohorts, summariseItemCohorts, validateBoundaries, validateGroups, validateItemShares, type PerUserEvaluation } from "../../src/services/cohorts.ts";

// 3 test users of 4 training users, 4 items with 3, 2, 1, 0 training clicks (head: item 0; tail at 20 %: items 2 and 3).
const EVALUATION: PerUserEvaluation = {
  rows: Int32Array.from([0, 1, 2]),
  activity: Int32Array.from([1, 2, 12]),
  capacity: Float64Array.from([1, 3, 8]),
  ndcg10: Float64Array.from([0.5, Number.NaN, 0.25]),
  recall20: Float64Array.from([1, 0, 0.5]),
  ndcg100: Float64Array.from([0.5, Number.NaN, 0.25]),
  recall50: Float64Array.from([1, 0, 0.5]),
  top: { items: Int32Array.from([0, 1, 2, -1, 0, 3]), stride: 2 },
  heldOut: { indptr: Int32Array.from([0, 1, 2, 3]), indices: Int32Array.from([1, 2, 2]) },
  itemClicks: Int32Array.from([3, 2, 1, 0]),
  trainUsers: 4,
};

describe("cohort boundaries", () => {
  it("accepts ascending positive integers and places users in [b_{j-1}, b_j)", () => {
    expect(validateBoundaries([5, 20])).toEqual([5, 20]);
    expect([0, 4, 5, 19, 20, 1000].map((a) => cohortIndex(a, [5, 20]))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it.each([[[]], [[5, 5]], [[20, 5]], [[0, 5]], [[2.5]], [[-1]]])("rejects %j with BAD_USER_INPUT", (b) => {
    try {
      validateBoundaries(b as number[]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
    }
  });

  it("summarises per cohort, skipping NaN metrics and reporting empty cohorts as null", () => {
    const figures = summariseCohorts({ boundaries: [3, 10], evaluation: EVALUATION });
    expect(figures.map(({ beyondAccuracy, ...rest }) => rest)).toEqual([
      { minClicks: 0, maxClicks: 2, userCount: 2, meanCapacity: 2, ndcg10: 0.5, recall20: 0.5 },
      { minClicks: 3, maxClicks: 9, userCount: 0, meanCapacity: null, ndcg10: null, recall20: null },
      { minClicks: 10, maxClicks: null, userCount: 1, meanCapacity: 8, ndcg10: 0.25, recall20: 0.5 },
    ]);
    // Users 0 and 1 were recommended [0, 1] and [2]: 3 of 4 items, ARP (2.5 + 1) / 2, APLT (0 + 1) / 2,
    // novelty ((−log2 3/4 − log2 2/4) / 2 + −log2 1/4) / 2.
    const first = figures[0].beyondAccuracy;
    expect(first.coverage).toBeCloseTo(0.75, 12);
    expect(first.arp).toBeCloseTo(1.75, 12);
    expect(first.aplt).toBeCloseTo(0.5, 12);
    expect(first.novelty).toBeCloseTo(((-Math.log2(3 / 4) + 1) / 2 + 2) / 2, 12);
    expect(figures[1].beyondAccuracy).toEqual({ coverage: null, arp: null, aplt: null, novelty: null });
    // User 2 was recommended [0, 3]: items 0 (head) and 3 (never clicked, tail).
    expect(figures[2].beyondAccuracy.coverage).toBeCloseTo(0.5, 12);
    expect(figures[2].beyondAccuracy.arp).toBeCloseTo(1.5, 12);
    expect(figures[2].beyondAccuracy.aplt).toBeCloseTo(0.5, 12);
  });

  it("item cohorts: head, torso, tail with their click shares and pooled recall", () => {
    const items = summariseItemCohorts({ evaluation: EVALUATION });
    // Held out: user 0 item 1 (torso, in its list), users 1 and 2 item 2 (tail; only user 1's list has it).
    expect(items.map((c) => [c.name, c.itemCount, c.testClicks, c.recall20])).toEqual([
      ["head", 1, 0, null],
      ["torso", 1, 1, 1],
      ["tail", 2, 2, 0.5],
    ]);
    expect(items.map((c) => c.clickShare)).toEqual([0.5, 2 / 6, 1 / 6]);
    // Slots: 0, 1 | 2 | 0, 3 → head 2, torso 1, tail 2 of 5.
    expect(items.map((c) => c.recommendationShare)).toEqual([0.4, 0.2, 0.4]);
    // With a 50 % tail share, items 1, 2, 3 (3 clicks of 6) are the tail.
    expect(summariseItemCohorts({ evaluation: EVALUATION, shares: { head: 0.2, tail: 0.5 } }).map((c) => c.itemCount)).toEqual([1, 0, 3]);
  });
});

describe("cohort groupings", () => {
  it("BOUNDARIES keeps the given (or the paper's) boundaries; quantile groupings cut the activity list", () => {
    const activity = [4, 1, 2, 10, 2, 3, 8, 1, 4, 2];
    expect(cohortBoundaries({ activity, grouping: "BOUNDARIES" })).toEqual([5, 20, 40, 60, 80]);
    expect(cohortBoundaries({ activity, grouping: "BOUNDARIES", boundaries: [2, 9] })).toEqual([2, 9]);
    expect(cohortBoundaries({ activity, grouping: "EQUAL_USERS", groups: 2 })).toEqual([3]);
    expect(cohortBoundaries({ activity, grouping: "EQUAL_INTERACTIONS", groups: 2 })).toEqual([8]);
    // Five groups by default: fifths of 37 clicks (7.4 each) are passed at levels 2 (8), 4 (19) and 8 (27);
    // the last fifth lies inside the one user with 10 clicks, so four groups come back.
    expect(cohortBoundaries({ activity, grouping: "EQUAL_INTERACTIONS" })).toEqual([3, 8, 10]);
  });

  it.each([0, 52, 2.5])("rejects %j groups with BAD_USER_INPUT", (groups) => {
    expect(() => validateGroups(groups)).toThrow(/groups must be an integer from 1 to 51/);
  });

  it("rejects item shares outside [0, 1] or summing past 1", () => {
    expect(validateItemShares({ head: 0.2, tail: 0.2 })).toEqual({ head: 0.2, tail: 0.2 });
    expect(() => validateItemShares({ head: 1.5, tail: 0 })).toThrow(/headShare must be a share/);
    expect(() => validateItemShares({ head: 0.6, tail: 0.6 })).toThrow(/at most 1/);
  });
});
