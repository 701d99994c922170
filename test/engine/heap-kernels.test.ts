/**
 * The heap kernels (src/engine/heap-kernels.ts), which the stock wasm backend uses when the native addon
 * is not built. The sparse first layer: values and gradients against S·W + b and Sᵀ·dY computed here
 * entry by entry, in both value layouts (per entry, and one value per row), with rows that share
 * columns, empty rows, and widths with and without a remainder past whole vectors. Column sums:
 * against sums computed here.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrFromRows, type CsrMatrix } from "../../src/data/csr.ts";
import { initBackend } from "../../src/engine/backend.ts";
import { sparseBatch } from "../../src/engine/batch.ts";
import { disableNativeMatMul, enableNativeMatMul, nativeSparseEnabled, SPARSE_LINEAR_KERNEL } from "../../src/engine/native-kernels.ts";
import { COLUMN_SUMS_KERNEL, enableHeapKernels, heapColumnSumsEnabled, sparseKernelsEnabled } from "../../src/engine/heap-kernels.ts";
import { columnSums, sparseBatchTensors, sparseLinear } from "../../src/engine/ops.ts";

let nativeWasOn = false;
beforeAll(async () => {
  await initBackend("wasm");
  nativeWasOn = nativeSparseEnabled();
  disableNativeMatMul();
  expect(enableHeapKernels()).toBe(true);
});
afterAll(() => {
  if (nativeWasOn) enableNativeMatMul();
});

/** out = S·W + b and dW = Sᵀ·dY, db = Σ dY, from the batch's own entries. */
function expected(o: { idx: Int32Array; seg: Int32Array; vals: Float32Array; rows: number; n: number; h: number; w: Float32Array; b: Float32Array; dy: Float32Array }) {
  const out = new Float64Array(o.rows * o.h);
  const dw = new Float64Array(o.n * o.h);
  const db = new Float64Array(o.h);
  for (let r = 0; r < o.rows; r += 1) for (let j = 0; j < o.h; j += 1) out[r * o.h + j] = o.b[j];
  for (let k = 0; k < o.idx.length; k += 1) {
    for (let j = 0; j < o.h; j += 1) {
      out[o.seg[k] * o.h + j] += o.vals[k] * o.w[o.idx[k] * o.h + j];
      dw[o.idx[k] * o.h + j] += o.vals[k] * o.dy[o.seg[k] * o.h + j];
    }
  }
  for (let r = 0; r < o.rows; r += 1) for (let j = 0; j < o.h; j += 1) db[j] += o.dy[r * o.h + j];
  return { out, dw, db };
}

/** Equal within float32 rounding: 1e-4 absolute, or 1e-6 relative for large sums. */
function closeTo(actual: ArrayLike<number>, wanted: ArrayLike<number>): void {
  expect(actual.length).toBe(wanted.length);
  let worst = 0;
  for (let i = 0; i < wanted.length; i += 1) worst = Math.max(worst, Math.abs(actual[i] - wanted[i]) / Math.max(1, Math.abs(wanted[i]) / 100));
  expect(worst).toBeLessThan(1e-4);
}

describe("the sparse first layer's heap kernels", () => {
  const counts: CsrMatrix = csrFromRows({ cols: 11, rows: [[[0, 2], [3, 1], [10, 4]], [], [[3, 5], [4, 1]], [[0, 1], [3, 1], [7, 3], [10, 1]], [[5, 2]]] });
  const clicks: CsrMatrix = csrFromRows({ cols: 11, rows: [[[1, 1], [3, 1]], [[3, 1], [9, 1]], [], [[0, 1], [1, 1], [3, 1], [10, 1]]] });

  it.each([
    ["counts (a value per entry), width 7", counts, 7],
    ["counts, width 8 (whole vectors)", counts, 8],
    ["clicks (one value per row), width 13", clicks, 13],
    ["clicks, width 600", clicks, 600],
  ] as const)("match S·W + b and its gradients: %s", async (_, matrix, h) => {
    expect(sparseKernelsEnabled()).toBe(true);
    expect(nativeSparseEnabled()).toBe(false);
    const rows = Array.from({ length: matrix.rows }, (_, r) => r);
    const batch = sparseBatch({ matrix, rows });
    expect(batch.rowScale !== undefined).toBe(matrix === clicks);
    const n = matrix.cols;
    const w = Float32Array.from({ length: n * h }, (_, i) => Math.sin(i * 0.37) * 0.5);
    const b = Float32Array.from({ length: h }, (_, j) => 0.1 * Math.cos(j));
    const dy = Float32Array.from({ length: rows.length * h }, (_, i) => Math.cos(i * 0.11));
    const want = expected({ ...batch, rows: rows.length, n, h, w, b, dy });

    const kernelCalls: string[] = [];
    const s = sparseBatchTensors(batch);
    const wT = tf.tensor2d(w, [n, h]);
    const bT = tf.tensor1d(b);
    const dyT = tf.tensor2d(dy, [rows.length, h]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.valueAndGrads((wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(sparseLinear(s, wi as tf.Tensor2D, bi as tf.Tensor1D), dyT)))([wT, bT]);
    const out = tf.tidy(() => sparseLinear(s, wT, bT));
    const profile = await tf.profile(() => tf.tidy(() => sparseLinear(s, wT, bT)));
    for (const k of profile.kernels) kernelCalls.push(k.name);
    tf.dispose(profile.result as tf.Tensor);
    closeTo(await out.data(), want.out);
    closeTo(await grads[0].data(), want.dw);
    closeTo(await grads[1].data(), want.db);
    expect(kernelCalls).toContain(SPARSE_LINEAR_KERNEL);
    tf.dispose([value, ...grads, out]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wT, bT, dyT, s.idx, s.seg, s.range, s.vals, ...(s.rowScale ? [s.rowScale] : [])]);
  });
});

describe("the heap column sums", () => {
  it.each([
    [1, 5],
    [3, 8],
    [128, 10_003],
  ])("sum %i rows of width %i as a loop over the rows does", async (rows, h) => {
    expect(heapColumnSumsEnabled()).toBe(true);
    const values = Float32Array.from({ length: rows * h }, (_, i) => Math.sin(i * 0.013) + (i % 7) * 0.25);
    const want = new Float64Array(h);
    for (let r = 0; r < rows; r += 1) for (let j = 0; j < h; j += 1) want[j] += values[r * h + j];
    const x = tf.tensor2d(values, [rows, h]);
    const profile = await tf.profile(() => columnSums(x));
    const sums = profile.result as tf.Tensor;
    expect(profile.kernels.map((k) => k.name)).toEqual([COLUMN_SUMS_KERNEL]);
    expect(sums.shape).toEqual([h]);
    closeTo(await sums.data(), want);
    tf.dispose([x, sums]);
  });
});
