/**
 * The one top-k (engine/metrics.ts): both of its strategies (sorted buffer for small k with sorted
 * exclusions, heap otherwise) give exactly the order of a full sort, ties to the lower index, NaN and
 * exclusions skipped, in every way exclusions can be given.
 */
import { describe, expect, it } from "vitest";
import { topK } from "../../src/engine/metrics.ts";

/** The reference: sort every candidate by score, then by index. */
function bySort(scores: ArrayLike<number>, k: number, exclude: ReadonlySet<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .filter((i) => !exclude.has(i) && !Number.isNaN(scores[i]))
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, Math.max(0, k));
}

describe("topK", () => {
  it("equals a full sort for small and large k, with exclusions as a sorted row, a set, or in any order", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    for (let trial = 0; trial < 200; trial += 1) {
      const n = 1 + Math.floor(random() * 400);
      // Few distinct values, so ties are common; a few NaN.
      const scores = Float32Array.from({ length: n }, () => (random() < 0.02 ? Number.NaN : Math.floor(random() * 12) / 12));
      const sorted = Int32Array.from(Array.from({ length: n }, (_, i) => i).filter(() => random() < 0.2));
      const set = new Set(sorted);
      const shuffled = [...sorted].reverse();
      for (const k of [0, 1, 5, 20, 128, 129, 300, n + 3]) {
        const expected = bySort(scores, k, set);
        expect(Array.from(topK({ scores, k, exclude: sorted }))).toEqual(expected);
        expect(Array.from(topK({ scores, k, exclude: set }))).toEqual(expected);
        expect(Array.from(topK({ scores, k, exclude: shuffled }))).toEqual(expected);
        expect(Array.from(topK({ scores, k }))).toEqual(bySort(scores, k, new Set()));
      }
    }
  });

  it("skips NaN scores and returns fewer than k when the row runs out", () => {
    const scores = Float32Array.from([0.1, Number.NaN, 0.3]);
    expect(Array.from(topK({ scores, k: 5, exclude: Int32Array.from([2]) }))).toEqual([0]);
  });
});
