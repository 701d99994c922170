import { describe, expect, it } from "vitest";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { cohortIndex, summariseCohorts, validateBoundaries } from "../../src/services/cohorts.ts";

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
    const figures = summariseCohorts({
      boundaries: [3, 10],
      evaluation: {
        rows: Int32Array.from([0, 1, 2]),
        activity: Int32Array.from([1, 2, 12]),
        capacity: Float64Array.from([1, 3, 8]),
        ndcg10: Float64Array.from([0.5, Number.NaN, 0.25]),
        recall20: Float64Array.from([1, 0, 0.5]),
      },
    });
    expect(figures).toEqual([
      { minClicks: 0, maxClicks: 2, userCount: 2, meanCapacity: 2, ndcg10: 0.5, recall20: 0.5 },
      { minClicks: 3, maxClicks: 9, userCount: 0, meanCapacity: null, ndcg10: null, recall20: null },
      { minClicks: 10, maxClicks: null, userCount: 1, meanCapacity: 8, ndcg10: 0.25, recall20: 0.5 },
    ]);
  });
});
