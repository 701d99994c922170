/**
 * On wasm, tf.clone (and every tensor tfjs keeps for a backward pass) shares its input's heap buffer
 * instead of copying it, and the buffer lives exactly as long as the last tensor that holds it.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, test } from "vitest";
import { initBackend } from "../../../src/engine/runtime/index.ts";

interface WasmInternals {
  numDataIds(): number;
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
}

describe("Identity on wasm", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  test("a clone holds the same values in the same buffer, which outlives the original and is freed with the clone", async () => {
    const backend = tf.backend() as unknown as WasmInternals;
    const before = backend.numDataIds();
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.clone(a);
    expect(backend.dataIdMap.get(b.dataId)?.memoryOffset).toBe(backend.dataIdMap.get(a.dataId)?.memoryOffset);
    expect(backend.numDataIds()).toBe(before + 1);
    a.dispose();
    expect(Array.from(await b.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b.shape).toEqual([2, 3]);
    b.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  test("gradients through saved tensors are unchanged, and leave no tensor behind", async () => {
    const x = tf.tensor2d([0.5, -1, 2, 0.25], [2, 2]);
    const w = tf.tensor2d([1, -2, 0.5, 3], [2, 2]);
    const before = tf.memory().numTensors;
    // d/dw Σ tanh(x·w)² = xᵀ · (2 tanh(x·w) (1 − tanh²(x·w))), computed by hand below.
    const g = tf.grad((wi: tf.Tensor) => tf.sum(tf.square(tf.tanh(tf.matMul(x, wi as tf.Tensor2D)))))(w);
    const xv = [[0.5, -1], [2, 0.25]];
    const wv = [[1, -2], [0.5, 3]];
    const expected: number[] = [];
    for (let i = 0; i < 2; i += 1) {
      for (let j = 0; j < 2; j += 1) {
        let s = 0;
        for (let r = 0; r < 2; r += 1) {
          const t = Math.tanh(xv[r][0] * wv[0][j] + xv[r][1] * wv[1][j]);
          s += xv[r][i] * 2 * t * (1 - t * t);
        }
        expected.push(s);
      }
    }
    const got = Array.from(await g.data());
    got.forEach((v, k) => expect(v).toBeCloseTo(expected[k], 5));
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });
});
