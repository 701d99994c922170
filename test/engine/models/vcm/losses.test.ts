/** The objective's terms against closed forms worked by hand, and the β schedule at chosen steps. */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../../src/engine/runtime/index.ts";
import { sparseBatch } from "../../../../src/engine/batch.ts";
import { csrFromRows } from "../../../../src/data/csr.ts";
import { annealedBeta, klGaussians, klToStandardNormal, multinomialNll, squaredDistance } from "../../../../src/engine/models/vcm/losses.ts";
import { sparseTarget } from "../../../../src/engine/runtime/ops.ts";
import { Rng } from "../../../../src/engine/random.ts";

beforeAll(async () => {
  await initBackend("wasm");
});

const LN2 = Math.log(2);

describe("KL divergences", () => {
  it("KL(q ‖ N(0, I)) matches ½ Σ (σ² + μ² − 1 − log σ²) worked by hand", () => {
    // Row 0: dim 1 has μ = 1, σ² = 1 → ½(1 + 1 − 1 − 0) = 0.5; dim 2 has μ = 0, σ² = 2 → ½(2 − 1 − ln 2) = 0.153426.
    // Row 1: μ = 0, σ² = 1 in both dims → 0 (the prior itself).
    const kl = tf.tidy(() => klToStandardNormal(tf.tensor2d([[1, 0], [0, 0]]), tf.tensor2d([[0, LN2], [0, 0]])).arraySync());
    expect(kl[0]).toBeCloseTo(0.5 + 0.5 * (1 - LN2), 5);
    expect(kl[1]).toBeCloseTo(0, 6);
  });

  it("KL between two Gaussians matches log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²)/(2σ₂²) − ½ in both directions", () => {
    // N(1, 1) ‖ N(0, 4): ln 2 + (1 + 1)/8 − ½ = 0.443147.  N(0, 4) ‖ N(1, 1): −ln 2 + (4 + 1)/2 − ½ = 1.306853.
    const [forward, backward] = tf.tidy(() => {
      const a = { mu: tf.tensor2d([[1]]), lv: tf.tensor2d([[0]]) };
      const b = { mu: tf.tensor2d([[0]]), lv: tf.tensor2d([[Math.log(4)]]) };
      return [
        klGaussians({ mu1: a.mu, logVar1: a.lv, mu2: b.mu, logVar2: b.lv }).dataSync()[0],
        klGaussians({ mu1: b.mu, logVar1: b.lv, mu2: a.mu, logVar2: a.lv }).dataSync()[0],
      ];
    });
    expect(forward).toBeCloseTo(LN2 + 0.25 - 0.5, 5);
    expect(backward).toBeCloseTo(-LN2 + 2.5 - 0.5, 5);
  });

  it("keeps every KL finite and ≥ 0 on random posteriors, and zero between identical ones", () => {
    const rng = new Rng(5);
    const [prior, cross, self, dist] = tf.tidy(() => {
      const mu1 = tf.tensor2d(rng.normals(200), [20, 10]);
      const lv1 = tf.mul(tf.tensor2d(rng.normals(200), [20, 10]), 2) as tf.Tensor2D;
      const mu2 = tf.tensor2d(rng.normals(200), [20, 10]);
      const lv2 = tf.mul(tf.tensor2d(rng.normals(200), [20, 10]), 2) as tf.Tensor2D;
      return [
        klToStandardNormal(mu1, lv1).dataSync(),
        klGaussians({ mu1, logVar1: lv1, mu2, logVar2: lv2 }).dataSync(),
        klGaussians({ mu1, logVar1: lv1, mu2: mu1, logVar2: lv1 }).dataSync(),
        squaredDistance(mu1, mu2).dataSync(),
      ];
    });
    for (const values of [prior, cross, dist]) {
      for (const v of values) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
      }
    }
    for (const v of self) expect(Math.abs(v)).toBeLessThan(1e-4);
  });
});

describe("multinomial likelihood", () => {
  it("equals −Σ x log softmax worked by hand, without a dense target", () => {
    // logits ln 1, ln 2, ln 3 → π = (1/6, 2/6, 3/6); x = (0, 2, 1) → −(2 ln ⅓ + ln ½) = 2 ln 3 + ln 2 = 2.890372.
    // The second row has no entries: its likelihood is 1, so its NLL is 0.
    const target = csrFromRows({ cols: 3, rows: [[[1, 2], [2, 1]], []] });
    const nll = tf.tidy(() => {
      const t = sparseTarget(sparseBatch({ matrix: target, rows: [0, 1], normalise: false }));
      return multinomialNll(tf.tensor2d([[0, LN2, Math.log(3)], [5, -5, 0]]), t).arraySync();
    });
    expect(nll[0]).toBeCloseTo(2 * Math.log(3) + LN2, 5);
    expect(nll[1]).toBeCloseTo(0, 6);
  });

  it("stays finite when logits are far apart (no softmax underflow in the log)", () => {
    const target = csrFromRows({ cols: 3, rows: [[[0, 1]]] });
    const nll = tf.tidy(() => {
      const t = sparseTarget(sparseBatch({ matrix: target, rows: [0], normalise: false }));
      return multinomialNll(tf.tensor2d([[-200, 200, 0]]), t).dataSync()[0];
    });
    expect(nll).toBeCloseTo(400, 3);
  });
});

describe("β schedule", () => {
  it("rises linearly as step / annealSteps and stops at β", () => {
    const at = (step: number): number => annealedBeta({ step, beta: 0.4, annealSteps: 40_000 });
    expect(at(0)).toBe(0);
    expect(at(4_000)).toBeCloseTo(0.1, 12);
    expect(at(16_000)).toBeCloseTo(0.4, 12);
    expect(at(40_000)).toBe(0.4);
    expect(at(1_000_000)).toBe(0.4);
  });
});
