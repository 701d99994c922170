import { describe, expect, it } from "vitest";
import { pairedTTest } from "../../src/engine/stats.ts";
import { UserError } from "../../src/errors.ts";

/** Two-sided p of Student's t with 4 degrees of freedom: 1 − 2∫₀^|t| f(s) ds, f(s) = 0.375 (1 + s²/4)^(−5/2). */
function twoSidedPDf4(t: number): number {
  // Γ(5/2) / (√(4π) Γ(2)) = 0.375 exactly; Simpson's rule on a smooth integrand over a finite interval.
  const f = (s: number): number => 0.375 * (1 + (s * s) / 4) ** -2.5;
  const n = 20_000;
  const h = Math.abs(t) / n;
  let sum = f(0) + f(Math.abs(t));
  for (let i = 1; i < n; i += 1) sum += (i % 2 === 1 ? 4 : 2) * f(i * h);
  return 1 - 2 * ((h / 3) * sum);
}

describe("pairedTTest", () => {
  it("matches a t statistic and p-value computed by hand on five paired users", () => {
    const a = [1, 2, 3, 4, 5.5];
    const b = [1.2, 1.5, 2.5, 3, 4];
    // Differences −0.2, 0.5, 0.5, 1, 1.5: mean 0.66, sample variance 1.612 / 4 = 0.403.
    const t = 0.66 / Math.sqrt(0.403 / 5);
    const result = pairedTTest({ a, b });
    expect(result.users).toBe(5);
    expect(result.df).toBe(4);
    expect(result.meanA).toBeCloseTo(3.1, 12);
    expect(result.meanB).toBeCloseTo(2.44, 12);
    expect(result.difference).toBeCloseTo(0.66, 12);
    expect(result.statistic).toBeCloseTo(t, 10);
    expect(result.statistic).toBeCloseTo(2.32475, 4);
    expect(result.pValue).toBeCloseTo(twoSidedPDf4(t), 6);
    expect(result.pValue).toBeCloseTo(0.08072, 4);
  });

  it("is antisymmetric: swapping the models flips the sign and keeps p", () => {
    const a = [0.1, 0.4, 0.35, 0.8, 0.2, 0.5];
    const b = [0.05, 0.3, 0.4, 0.6, 0.1, 0.45];
    const ab = pairedTTest({ a, b });
    const ba = pairedTTest({ a: b, b: a });
    expect(ba.statistic).toBeCloseTo(-ab.statistic, 12);
    expect(ba.pValue).toBeCloseTo(ab.pValue, 12);
  });

  it("skips users whose value is missing (NaN) under either model", () => {
    const a = [1, 2, Number.NaN, 3, 4, 5.5];
    const b = [1.2, 1.5, 9, Number.NaN, 3, 4];
    const result = pairedTTest({ a, b });
    expect(result.users).toBe(4);
    expect(pairedTTest({ a: [1, 2, 4, 5.5], b: [1.2, 1.5, 3, 4] }).pValue).toBeCloseTo(result.pValue, 12);
  });

  it("gives p = 1 for identical models and p = 0 for a constant non-zero difference", () => {
    expect(pairedTTest({ a: [0.2, 0.3, 0.4], b: [0.2, 0.3, 0.4] })).toMatchObject({ pValue: 1, difference: 0 });
    const shifted = pairedTTest({ a: [0.3, 0.4, 0.5], b: [0.2, 0.3, 0.4] });
    expect(shifted.pValue).toBe(0);
    expect(shifted.statistic).toBe(Infinity);
  });

  it("refuses fewer than two paired users with a sentence", () => {
    expect(() => pairedTTest({ a: [0.5, Number.NaN], b: [0.2, 0.1] })).toThrow(UserError);
    expect(() => pairedTTest({ a: [0.5], b: [0.2] })).toThrow(/at least 2 users/);
  });
});
