import { describe, expect, it } from "vitest";
import { topK, topKSorted } from "../../src/engine/metrics.ts";

describe("topKSorted", () => {
  it("orders exactly like the engine's topK, ties and exclusions included", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    for (let trial = 0; trial < 200; trial += 1) {
      const n = 1 + Math.floor(random() * 300);
      // Few distinct values, so ties are common.
      const scores = Float32Array.from({ length: n }, () => Math.floor(random() * 12) / 12);
      const exclude = Int32Array.from(
        Array.from({ length: n }, (_, i) => i).filter(() => random() < 0.2),
      );
      for (const k of [1, 5, 20, n + 3]) {
        expect(Array.from(topKSorted({ scores, k, exclude }))).toEqual(Array.from(topK({ scores, k, exclude })));
        expect(Array.from(topKSorted({ scores, k }))).toEqual(Array.from(topK({ scores, k })));
      }
    }
  });

  it("skips NaN scores and returns fewer than k when the row runs out", () => {
    const scores = Float32Array.from([0.1, Number.NaN, 0.3]);
    expect(Array.from(topKSorted({ scores, k: 5, exclude: Int32Array.from([2]) }))).toEqual([0]);
  });
});
