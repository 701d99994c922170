/**
 * The heap kernels (src/engine/runtime/heap-kernels.ts), which the stock wasm backend uses when the native addon
 * is not built. The sparse first layer: the cases of sparse-cases.ts (values and gradients against
 * S·W + b and Sᵀ·dY computed entry by entry, and a column out of range). Column sums: against sums
 * computed here.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { disableNativeMatMul, enableNativeMatMul, nativeSparseEnabled } from "../../../src/engine/runtime/native-kernels.ts";
import { COLUMN_SUMS_KERNEL, enableHeapKernels, heapColumnSumsEnabled, sparseKernelsEnabled } from "../../../src/engine/runtime/heap-kernels.ts";
import { columnSums } from "../../../src/engine/runtime/ops.ts";
import { checkBadColumn, checkSparseCase, closeTo, SPARSE_CASES } from "./sparse-cases.ts";

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

describe("the sparse first layer's heap kernels", () => {
  it.each(SPARSE_CASES)("match S·W + b and its gradients: %s", async (_, matrix, h) => {
    expect(sparseKernelsEnabled()).toBe(true);
    expect(nativeSparseEnabled()).toBe(false);
    await checkSparseCase(matrix, h);
  });

  it("refuse a column outside W with a RangeError, leaving no memory behind", () => {
    checkBadColumn();
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
