/**
 * Cases for the sparse first layer's kernels, shared by the heap functions' test (heap-kernels.test.ts)
 * and the native addon's (native-kernels.test.ts): values and gradients against S·W + b and Sᵀ·dY
 * computed here entry by entry, in both value layouts (per entry, and one value per row), with rows
 * that share columns, empty rows, columns no row uses, and widths with and without a remainder past
 * whole vectors; and a batch whose column is out of range, which must throw and leave nothing behind.
 */
import * as tf from "@tensorflow/tfjs";
import { expect } from "vitest";
import { csrFromRows, type CsrMatrix } from "../../../src/data/csr.ts";
import { sparseBatch } from "../../../src/engine/batch.ts";
import { SPARSE_LINEAR_GRAD_KERNEL, SPARSE_LINEAR_KERNEL } from "../../../src/engine/runtime/native-kernels.ts";
import { sparseBatchTensors, sparseLinear } from "../../../src/engine/runtime/ops.ts";

export const counts: CsrMatrix = csrFromRows({ cols: 11, rows: [[[0, 2], [3, 1], [10, 4]], [], [[3, 5], [4, 1]], [[0, 1], [3, 1], [7, 3], [10, 1]], [[5, 2]]] });
export const clicks: CsrMatrix = csrFromRows({ cols: 11, rows: [[[1, 1], [3, 1]], [[3, 1], [9, 1]], [], [[0, 1], [1, 1], [3, 1], [10, 1]]] });

export const SPARSE_CASES = [
  ["counts (a value per entry), width 7", counts, 7],
  ["counts, width 8 (whole vectors)", counts, 8],
  ["clicks (one value per row), width 13", clicks, 13],
  ["clicks, width 600", clicks, 600],
] as const;

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
export function closeTo(actual: ArrayLike<number>, wanted: ArrayLike<number>): void {
  expect(actual.length).toBe(wanted.length);
  let worst = 0;
  for (let i = 0; i < wanted.length; i += 1) worst = Math.max(worst, Math.abs(actual[i] - wanted[i]) / Math.max(1, Math.abs(wanted[i]) / 100));
  expect(worst).toBeLessThan(1e-4);
}

/** The backend's count of live data ids: tensors, and the gradient kernel's scratch while it runs. */
function dataIds(): number {
  return tf.engine().backend.numDataIds();
}

/** Runs one case through sparseLinear and its gradient and checks all three results, the kernel used and that nothing leaks. */
export async function checkSparseCase(matrix: CsrMatrix, h: number): Promise<void> {
  const rows = Array.from({ length: matrix.rows }, (_, r) => r);
  const batch = sparseBatch({ matrix, rows });
  expect(batch.rowScale !== undefined).toBe(matrix === clicks);
  const n = matrix.cols;
  const w = Float32Array.from({ length: n * h }, (_, i) => Math.sin(i * 0.37) * 0.5);
  const b = Float32Array.from({ length: h }, (_, j) => 0.1 * Math.cos(j));
  const dy = Float32Array.from({ length: rows.length * h }, (_, i) => Math.cos(i * 0.11));
  const want = expected({ ...batch, rows: rows.length, n, h, w, b, dy });

  const s = sparseBatchTensors(batch);
  const wT = tf.tensor2d(w, [n, h]);
  const bT = tf.tensor1d(b);
  const dyT = tf.tensor2d(dy, [rows.length, h]);
  const before = tf.memory().numTensors;
  const idsBefore = dataIds();
  const { value, grads } = tf.valueAndGrads((wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(sparseLinear(s, wi as tf.Tensor2D, bi as tf.Tensor1D), dyT)))([wT, bT]);
  const out = tf.tidy(() => sparseLinear(s, wT, bT));
  const profile = await tf.profile(() => tf.tidy(() => tf.grad((wi: tf.Tensor) => tf.sum(tf.mul(sparseLinear(s, wi as tf.Tensor2D, bT), dyT)))(wT)));
  const kernels = profile.kernels.map((k) => k.name);
  tf.dispose(profile.result as tf.Tensor);
  closeTo(await out.data(), want.out);
  closeTo(await grads[0].data(), want.dw);
  closeTo(await grads[1].data(), want.db);
  expect(kernels).toContain(SPARSE_LINEAR_KERNEL);
  expect(kernels).toContain(SPARSE_LINEAR_GRAD_KERNEL);
  tf.dispose([value, ...grads, out]);
  expect(tf.memory().numTensors).toBe(before);
  expect(dataIds()).toBe(idsBefore);
  tf.dispose([wT, bT, dyT, s.idx, s.seg, s.range, s.vals, ...(s.rowScale ? [s.rowScale] : [])]);
}

/** A gradient call whose column lies past W's rows throws a RangeError that names it, and frees its output and scratch. */
export function checkBadColumn(): void {
  const idx = tf.tensor1d([0, 12], "int32");
  const seg = tf.tensor1d([0, 1], "int32");
  const values = tf.tensor2d([1, 2], [2, 1]);
  const w = tf.zeros([11, 4]);
  const dy = tf.ones([2, 4]);
  const idsBefore = dataIds();
  expect(() => tf.engine().runKernel(SPARSE_LINEAR_GRAD_KERNEL, { idx, seg, values, w, dy }, { rows: 2, rowScale: false })).toThrow(/entry 1 at row 1, column 12 is outside 2 × 11/);
  expect(dataIds()).toBe(idsBefore);
  tf.dispose([idx, seg, values, w, dy]);
}
