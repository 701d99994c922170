/**
 * The fused Adam equals the textbook update (PyTorch's form, bias-corrected moments) step by step on
 * wasm and cpu, and the updated weights are what the next forward pass uses (wasm's matMul keeps
 * packed copies of its weights, so an update must never be invisible to it).
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, test } from "vitest";
import { Adam } from "../../../src/engine/runtime/adam.ts";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { WEBGPU_SKIP_REASON } from "../webgpu-available.ts";

/** θ ← θ − lr · m̂ / (√v̂ + ε), m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ), in float64. */
function reference(theta: number[], grads: number[][], lr: number): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const p = [...theta];
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let j = 0; j < p.length; j += 1) {
      m[j] = b1 * m[j] + (1 - b1) * g[j];
      v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
      p[j] -= (lr * (m[j] / (1 - b1 ** t))) / (Math.sqrt(v[j] / (1 - b2 ** t)) + eps);
    }
  });
  return p;
}

describe.each([
  ["wasm", "auto"],
  ["cpu", "auto"],
  ["wasm", "tensor"],
  ["cpu", "tensor"],
  ["webgpu", "auto"],
] as const)("Adam on %s, %s implementation", (backend, implementation) => {
  const it = backend === "webgpu" && WEBGPU_SKIP_REASON !== undefined ? test.skip : test;
  afterAll(async () => {
    await initBackend("wasm");
  });

  it("matches the textbook update over several steps, and matMul sees the new weights", async () => {
    await initBackend(backend);
    const theta = [0.5, -1, 2, 0, 0.25, -0.75];
    const grads = [
      [1, -2, 0.5, 0, 3, -1e-3],
      [0.5, 1, -0.5, 2, -3, 1e-3],
      [-1, 0, 0.25, 1, 1, 0],
    ];
    const adam = new Adam([6], { learningRate: 0.1, implementation });
    let w: tf.Tensor = tf.tensor2d(theta, [3, 2]);
    const x = tf.tensor2d([[1, 2, 3]]);
    // A matMul before the updates lets wasm build (and cache) its packed copy of w.
    tf.matMul(x, w as tf.Tensor2D).dispose();
    for (const g of grads) {
      const gt = tf.tensor2d(g, [3, 2]);
      [w] = adam.update([w], [gt]);
      gt.dispose();
    }
    const expected = reference(theta, grads, 0.1);
    const got = Array.from(await w.data());
    got.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5));
    const y = await tf.matMul(x, w as tf.Tensor2D).data();
    expect(y[0]).toBeCloseTo(expected[0] + 2 * expected[2] + 3 * expected[4], 5);
    expect(y[1]).toBeCloseTo(expected[1] + 2 * expected[3] + 3 * expected[5], 5);
    expect(adam.steps).toBe(3);
    tf.dispose([w, x]);
    adam.dispose();
  });

  it("updates a tensor in place when told no matMul reads it (auto), with the same values", async () => {
    await initBackend(backend);
    const adam = new Adam([3], { learningRate: 0.05, inPlace: [true], implementation });
    const w = tf.tensor1d([1, -2, 3]);
    const g = tf.tensor1d([0.5, 0.5, -4]);
    const [after] = adam.update([w], [g]);
    // The tensor-op implementation (webgpu's too) always makes a new tensor.
    if (implementation === "auto" && backend !== "webgpu") expect(after).toBe(w);
    const expected = reference([1, -2, 3], [[0.5, 0.5, -4]], 0.05);
    Array.from(await after.data()).forEach((v, j) => expect(v).toBeCloseTo(expected[j], 6));
    tf.dispose([after, g]);
    adam.dispose();
  });
});
