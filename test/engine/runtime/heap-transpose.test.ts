/**
 * The heap transpose (src/engine/runtime/heap-transpose.ts) in place of wasm's Transpose kernel: the same numbers
 * as the stock kernel, bit for bit, for float32 and int32 matrices with and without edges past whole
 * 4 × 4 tiles and past one block of rows, and the stock kernel still answering what it does not take
 * (three dimensions, bool), with no tensor left behind.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { disableHeapTranspose, enableHeapTranspose, heapTransposeEnabled } from "../../../src/engine/runtime/heap-transpose.ts";

beforeAll(async () => {
  await initBackend("wasm");
});
afterAll(() => {
  enableHeapTranspose();
});

/** The stock kernel's answer and ours for the same tensor, with the kernels that ran ours. */
async function both(x: tf.Tensor, perm?: number[]): Promise<{ stock: number[]; heap: number[]; kernels: string[] }> {
  disableHeapTranspose();
  expect(heapTransposeEnabled()).toBe(false);
  const stockT = tf.transpose(x, perm);
  const stock = Array.from(await stockT.data());
  stockT.dispose();
  expect(enableHeapTranspose()).toBe(true);
  const profile = await tf.profile(() => tf.transpose(x, perm));
  const result = profile.result as tf.Tensor;
  const heap = Array.from(await result.data());
  result.dispose();
  return { stock, heap, kernels: profile.kernels.map((k) => k.name) };
}

describe("the heap transpose", () => {
  it.each([
    [1, 1],
    [3, 5],
    [4, 8],
    [7, 13],
    [128, 600],
    [1030, 9],
    [9, 1030],
  ])("transposes a %i × %i float32 matrix exactly as the stock kernel does", async (rows, cols) => {
    const x = tf.tensor2d(Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.731) * (i % 11) - 0.5), [rows, cols]);
    const before = tf.memory().numTensors;
    const { stock, heap, kernels } = await both(x);
    expect(heap).toEqual(stock);
    // out[c][r] = x[r][c], checked directly at the corners and the middle.
    const xs = await x.data();
    for (const [r, c] of [[0, 0], [rows - 1, 0], [0, cols - 1], [rows - 1, cols - 1], [rows >> 1, cols >> 1]]) expect(heap[c * rows + r]).toBe(xs[r * cols + c]);
    expect(kernels).toEqual(["Transpose"]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it("moves int32 values bit for bit, large ones included", async () => {
    const x = tf.tensor2d(Int32Array.from({ length: 6 * 9 }, (_, i) => (i % 2 === 0 ? 2_000_000_000 - i : -i * 77_777)), [6, 9], "int32");
    const { stock, heap } = await both(x);
    expect(heap).toEqual(stock);
    expect(heap.slice(0, 3)).toEqual([2_000_000_000, -9 * 77_777, 2_000_000_000 - 18]);
    x.dispose();
  });

  it("leaves other ranks and dtypes to the stock kernel", async () => {
    const cube = tf.tensor3d(Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => i), [2, 3, 5]);
    const c = await both(cube, [2, 0, 1]);
    expect(c.heap).toEqual(c.stock);
    expect(c.heap.slice(0, 4)).toEqual([0, 5, 10, 15]);
    const flags = tf.tensor2d([true, false, false, true, true, false], [2, 3], "bool");
    const f = await both(flags);
    expect(f.heap).toEqual([1, 1, 0, 1, 0, 0]);
    expect(f.heap).toEqual(f.stock);
    tf.dispose([cube, flags]);
  });
});
