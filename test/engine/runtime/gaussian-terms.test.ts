/**
 * The fused Gaussian terms (gaussian-terms.ts) against tfjs's ops for the same terms (losses.ts): the
 * values and the gradients in all four inputs, for each kind of cross term, and a training step's
 * terms through either path.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { type CrossTerms, fusedReparameterise, GAUSSIAN_TERMS_KERNEL, gaussianKernelsEnabled, gaussianTerms } from "../../../src/engine/runtime/gaussian-terms.ts";
import { klGaussians, klToStandardNormal, squaredDistance } from "../../../src/engine/models/vcm/losses.ts";
import { Rng } from "../../../src/engine/random.ts";

beforeAll(async () => {
  await initBackend("wasm");
});

/** The same 4 × rows terms through tfjs's ops. */
function composite(muX: tf.Tensor2D, logVarX: tf.Tensor2D, muY: tf.Tensor2D, logVarY: tf.Tensor2D, cross: CrossTerms): tf.Tensor2D {
  const rows = muX.shape[0];
  const terms = [klToStandardNormal(muX, logVarX), klToStandardNormal(muY, logVarY)];
  if (cross === "kl") terms.push(klGaussians({ mu1: muX, logVar1: logVarX, mu2: muY, logVar2: logVarY }), klGaussians({ mu1: muY, logVar1: logVarY, mu2: muX, logVar2: logVarX }));
  else if (cross === "squared") terms.push(squaredDistance(muX, muY), squaredDistance(muX, muY));
  else terms.push(tf.zeros([rows]), tf.zeros([rows]));
  return tf.stack(terms) as tf.Tensor2D;
}

function randomMatrix(rng: Rng, rows: number, cols: number, scale: number): tf.Tensor2D {
  return tf.tensor2d(Array.from({ length: rows * cols }, () => scale * rng.normal()), [rows, cols]);
}

describe("the fused Gaussian terms on wasm", () => {
  it("are registered on wasm", () => {
    expect(gaussianKernelsEnabled()).toBe(true);
    expect(tf.getKernel(GAUSSIAN_TERMS_KERNEL, "wasm")).toBeDefined();
  });

  for (const cross of ["kl", "squared", "none"] as const) {
    it(`match tfjs's ops in value and in the gradient of every input (cross terms: ${cross})`, async () => {
      const rng = new Rng(11);
      const rows = 37;
      const k = 23;
      const inputs = [randomMatrix(rng, rows, k, 1), randomMatrix(rng, rows, k, 0.7), randomMatrix(rng, rows, k, 1), randomMatrix(rng, rows, k, 0.7)] as tf.Tensor2D[];
      // A weight per term and row, so each of the four rows of dy differs.
      const weights = randomMatrix(rng, 4, rows, 1);
      const fusedOf = (...t: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(weights, gaussianTerms({ muX: t[0] as tf.Tensor2D, logVarX: t[1] as tf.Tensor2D, muY: t[2] as tf.Tensor2D, logVarY: t[3] as tf.Tensor2D, cross })));
      const compositeOf = (...t: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(weights, composite(t[0] as tf.Tensor2D, t[1] as tf.Tensor2D, t[2] as tf.Tensor2D, t[3] as tf.Tensor2D, cross)));
      const fused = await gaussianTerms({ muX: inputs[0], logVarX: inputs[1], muY: inputs[2], logVarY: inputs[3], cross }).array();
      const expected = await composite(inputs[0], inputs[1], inputs[2], inputs[3], cross).array();
      expect(fused).toHaveLength(4);
      for (let t = 0; t < 4; t++) {
        for (let r = 0; r < rows; r++) expect(Math.abs(fused[t][r] - expected[t][r])).toBeLessThan(2e-5 * Math.max(1, Math.abs(expected[t][r])));
      }
      if (cross !== "none") expect(Math.max(...fused[2])).toBeGreaterThan(1);
      const fusedGrads = tf.grads(fusedOf)(inputs);
      const compositeGrads = tf.grads(compositeOf)(inputs);
      for (let i = 0; i < 4; i++) {
        const got = await fusedGrads[i].data();
        const want = await compositeGrads[i].data();
        let largest = 0;
        for (let j = 0; j < want.length; j++) {
          expect(Math.abs(got[j] - want[j])).toBeLessThan(2e-5 * Math.max(1, Math.abs(want[j])));
          largest = Math.max(largest, Math.abs(want[j]));
        }
        // Every input has a gradient that is not 0 (the prior terms reach all four).
        expect(largest).toBeGreaterThan(0.1);
      }
      tf.dispose([...inputs, weights, ...fusedGrads, ...compositeGrads]);
    });
  }

  it("leaks no tensor", () => {
    const rng = new Rng(3);
    const inputs = [0, 1, 2, 3].map(() => randomMatrix(rng, 5, 4, 1));
    const before = tf.memory().numTensors;
    const grads = tf.grads((...t: tf.Tensor[]) => tf.sum(gaussianTerms({ muX: t[0] as tf.Tensor2D, logVarX: t[1] as tf.Tensor2D, muY: t[2] as tf.Tensor2D, logVarY: t[3] as tf.Tensor2D, cross: "kl" })))(inputs);
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(inputs);
  });
});

describe("the fused reparameterisation on wasm", () => {
  it("gives z = μ + ε ⊙ e^{½ log σ²} and the gradients of tfjs's ops for μ and log σ²", async () => {
    const rng = new Rng(21);
    const [mu, logVar, eps, weights] = [1, 0.8, 1, 1].map((scale) => randomMatrix(rng, 29, 17, scale));
    const fused = (m: tf.Tensor, l: tf.Tensor): tf.Scalar => tf.sum(tf.mul(weights, fusedReparameterise({ mu: m as tf.Tensor2D, logVar: l as tf.Tensor2D, eps })));
    const ops = (m: tf.Tensor, l: tf.Tensor): tf.Scalar => tf.sum(tf.mul(weights, tf.add(m, tf.mul(eps, tf.exp(tf.mul(0.5, l))))));
    const z = await fusedReparameterise({ mu, logVar, eps }).data();
    const [m, l, e] = await Promise.all([mu.data(), logVar.data(), eps.data()]);
    for (let j = 0; j < z.length; j++) expect(Math.abs(z[j] - (m[j] + e[j] * Math.exp(0.5 * l[j])))).toBeLessThan(1e-5 * Math.max(1, Math.abs(z[j])));
    const got = tf.grads(fused)([mu, logVar]);
    const want = tf.grads(ops)([mu, logVar]);
    for (let i = 0; i < 2; i++) {
      const [g, w] = await Promise.all([got[i].data(), want[i].data()]);
      for (let j = 0; j < w.length; j++) expect(Math.abs(g[j] - w[j])).toBeLessThan(2e-5 * Math.max(1, Math.abs(w[j])));
    }
    tf.dispose([mu, logVar, eps, weights, ...got, ...want]);
  });
});
