/**
 * The capacity derivation of docs/capacity.md (issue 28, item 5): the stationary posteriors of VCM-Se and
 * VCM for one dimension against a hand calculation and against a brute-force minimisation of the written-out
 * objective, and the predicted direction of ĉu(VCM) − ĉu(VCM-Se) in each case the page names.
 */
import { describe, expect, it } from "vitest";
import { capacity1d, capacityParts, crossKl, jointStationary, meanPrecision, separateStationary, type Evidence, type Posterior1d } from "../../src/engine/capacity.ts";

/** KL(N(m1, v1) ‖ N(m2, v2)) in one dimension, written out here independently of the module. */
const kl = (q: Posterior1d, p: Posterior1d) => 0.5 * (Math.log(p.variance / q.variance) + (q.variance + (q.mean - p.mean) ** 2) / p.variance - 1);
const PRIOR: Posterior1d = { mean: 0, variance: 1 };

/** The negative VCM objective of one user and dimension with quadratic reconstruction terms. */
function vcmObjective(o: { beta: number; clicks: Evidence; words: Evidence; x: Posterior1d; y: Posterior1d }): number {
  const recon = (e: Evidence, q: Posterior1d) => (e.precision / 2) * ((q.mean - e.location) ** 2 + q.variance);
  return recon(o.clicks, o.x) + recon(o.words, o.y) + o.beta * (kl(o.x, PRIOR) + kl(o.y, PRIOR) + kl(o.x, o.y) + kl(o.y, o.x));
}

/** ĉu(VCM) − ĉu(VCM-Se) for one dimension at equal β. */
function capacityGap(o: { beta: number; clicks: Evidence; words: Evidence }): number {
  return capacity1d(jointStationary(o).x) - capacity1d(separateStationary({ beta: o.beta, evidence: o.clicks }));
}

describe("capacity derivation", () => {
  it("VCM-Se's stationary posterior and its ĉu match the hand calculation", () => {
    // β = 0.5, λ = 1.5, a = 2: ρ = 3, precision 4, variance 0.25, mean 3 · 2 / 4 = 1.5.
    const q = separateStationary({ beta: 0.5, evidence: { precision: 1.5, location: 2 } });
    expect(q.variance).toBeCloseTo(0.25, 14);
    expect(q.mean).toBeCloseTo(1.5, 14);
    // ½ (0.25 + 2.25 − 1 − ln 0.25) = ½ (1.5 + ln 4).
    expect(capacity1d(q)).toBeCloseTo(0.5 * (1.5 + Math.log(4)), 14);
    // It is the minimiser: any nearby posterior scores worse.
    const f = (p: Posterior1d) => (1.5 / 2) * ((p.mean - 2) ** 2 + p.variance) + 0.5 * kl(p, PRIOR);
    for (const [dm, dv] of [[1e-3, 0], [-1e-3, 0], [0, 1e-3], [0, -1e-3]]) expect(f({ mean: q.mean + dm, variance: q.variance + dv })).toBeGreaterThan(f(q));
  });

  it("VCM's joint stationary point is stationary and no worse than a grid around it", () => {
    const o = { beta: 0.4, clicks: { precision: 2, location: 1.2 }, words: { precision: 5, location: -0.3 } };
    const s = jointStationary(o);
    expect(s.gradient).toBeLessThan(1e-9);
    const best = vcmObjective({ ...o, x: s.x, y: s.y });
    const steps = [-0.02, 0, 0.02];
    for (const dm of steps) for (const dv of steps) for (const dn of steps) for (const dw of steps) {
      const x = { mean: s.x.mean + dm, variance: s.x.variance * (1 + dv) };
      const y = { mean: s.y.mean + dn, variance: s.y.variance * (1 + dw) };
      expect(vcmObjective({ ...o, x, y })).toBeGreaterThanOrEqual(best - 1e-12);
    }
  });

  it("with the same evidence on both sides, VCM's click posterior is VCM-Se's exactly", () => {
    for (const beta of [0.01, 0.4, 2]) {
      const evidence = { precision: 3, location: 0.8 };
      const s = jointStationary({ beta, clicks: evidence, words: evidence });
      const se = separateStationary({ beta, evidence });
      expect(s.x.mean).toBeCloseTo(se.mean, 10);
      expect(s.x.variance).toBeCloseTo(se.variance, 10);
    }
  });

  it("agreeing locations: VCM's ĉu is above VCM-Se's exactly when the words are the more informative side, at every β", () => {
    for (const beta of [0.01, 0.1, 0.4, 1]) {
      expect(capacityGap({ beta, clicks: { precision: 1, location: 1 }, words: { precision: 4, location: 1 } })).toBeGreaterThan(0);
      expect(capacityGap({ beta, clicks: { precision: 4, location: 1 }, words: { precision: 1, location: 1 } })).toBeLessThan(0);
    }
  });

  it("agreeing locations: the sign of ĉu(VCM) − ĉu(VCM-Se) is the sign of λy − λx over a grid of β, precisions and locations", () => {
    const precisions = [0.01, 0.1, 1, 10, 100, 1000];
    let cases = 0;
    for (const beta of [0.001, 0.01, 0.1, 0.4, 1, 5]) {
      for (const lx of precisions) {
        for (const ly of precisions) {
          for (const location of [-2, 0, 0.5, 3]) {
            if (lx === ly) continue;
            const s = jointStationary({ beta, clicks: { precision: lx, location }, words: { precision: ly, location } });
            expect(s.gradient).toBeLessThan(1e-6 * Math.max(1, lx, ly));
            expect(Math.sign(capacity1d(s.x) - capacity1d(separateStationary({ beta, evidence: { precision: lx, location } })))).toBe(Math.sign(ly - lx));
            cases += 1;
          }
        }
      }
    }
    expect(cases).toBe(6 * 30 * 4);
  });

  it("words that say nothing (λy = 0) lower VCM's ĉu below VCM-Se's", () => {
    for (const beta of [0.01, 0.4, 1]) expect(capacityGap({ beta, clicks: { precision: 2, location: 1 }, words: { precision: 0, location: 0 } })).toBeLessThan(0);
  });

  it("equally informative words that point elsewhere lower VCM's ĉu (the means are averaged)", () => {
    for (const beta of [0.01, 0.4, 1]) expect(capacityGap({ beta, clicks: { precision: 3, location: 1.5 }, words: { precision: 3, location: -0.5 } })).toBeLessThan(0);
  });

  it("words and clicks that disagree widen both posteriors beyond VCM-Se's (both precisions fall), most at a small β", () => {
    for (const beta of [0.01, 0.4]) {
      const [clicks, words] = [{ precision: 2, location: 1 }, { precision: 5, location: -1 }];
      const s = jointStationary({ beta, clicks, words });
      expect(1 / s.x.variance).toBeLessThan(1 / separateStationary({ beta, evidence: clicks }).variance);
      expect(1 / s.y.variance).toBeLessThan(1 / separateStationary({ beta, evidence: words }).variance);
    }
    // β = 0.01: VCM-Se's click precision is 1 + 2 / 0.01 = 201; the disagreeing VCM's is about 8.
    expect(1 / jointStationary({ beta: 0.01, clicks: { precision: 2, location: 1 }, words: { precision: 5, location: -1 } }).x.variance).toBeLessThan(10);
  });

  it("the cross terms keep the two precisions within a factor φ = 1.618 of each other, however unequal the evidence", () => {
    const s = jointStationary({ beta: 0.01, clicks: { precision: 1000, location: 0 }, words: { precision: 0.001, location: 0 } });
    const ratio = s.y.variance / s.x.variance;
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeLessThan((1 + Math.sqrt(5)) / 2);
  });

  it("capacityParts and meanPrecision split a posterior as the hand calculation does", () => {
    // Two rows, K = 2: μ = (1, 2), (0, 0); log σ² = (0, ln 4), (−ln 2, 0).
    const mu = Float32Array.from([1, 2, 0, 0]);
    const logVar = Float32Array.from([0, Math.log(4), -Math.log(2), 0]);
    const { meanPart, variancePart } = capacityParts({ mu, logVar, latentDim: 2 });
    expect(meanPart[0]).toBeCloseTo(2.5, 6);
    expect(meanPart[1]).toBe(0);
    // ½ (4 − 1 − ln 4) and ½ (0.5 − 1 + ln 2).
    expect(variancePart[0]).toBeCloseTo(0.5 * (3 - Math.log(4)), 6);
    expect(variancePart[1]).toBeCloseTo(0.5 * (-0.5 + Math.log(2)), 6);
    const precision = meanPrecision({ logVar, latentDim: 2 });
    expect(precision[0]).toBeCloseTo((1 + 0.25) / 2, 6);
    expect(precision[1]).toBeCloseTo((2 + 1) / 2, 6);
    // KL(row 0 ‖ row 1) per dimension: ½ (−ln 2 − 0 + (1 + 1) / 0.5 − 1) and ½ (0 − ln 4 + (4 + 4) / 1 − 1).
    const cross = crossKl({ x: { mu: mu.subarray(0, 2), logVar: logVar.subarray(0, 2) }, y: { mu: mu.subarray(2), logVar: logVar.subarray(2) }, latentDim: 2 });
    expect(cross[0]).toBeCloseTo(0.5 * (3 - Math.log(2)) + 0.5 * (7 - Math.log(4)), 5);
  });
});
