/**
 * The optional OpenBLAS matMul for wasm (src/engine/runtime/native-kernels.ts) gives the stock kernels' results
 * on every transpose and batch case it takes, hands the others back to them, and trains the same.
 * The test compiles the addon into a temporary folder; without a C compiler and OpenBLAS it skips.
 */
import * as tf from "@tensorflow/tfjs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNativeAddon } from "../../../scripts/build-native.ts";
import { Adam } from "../../../src/engine/runtime/adam.ts";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { resolveVcmConfig } from "../../../src/engine/config.ts";
import { csrFromRows } from "../../../src/data/csr.ts";
import { sparseBatch } from "../../../src/engine/batch.ts";
import { disableNativeMatMul, enableNativeMatMul, nativeMatMulEnabled, nativeNllEnabled, nativeSoftmaxMeanEnabled, nativeSparseEnabled, TOP_K_KERNEL } from "../../../src/engine/runtime/native-kernels.ts";
import { topK } from "../../../src/engine/metrics.ts";
import { multinomialNll, prefersDenseInput, softmaxMean, sparseTarget } from "../../../src/engine/runtime/ops.ts";
import { Rng } from "../../../src/engine/random.ts";
import { initParams, trainStep, updatableInPlace } from "../../../src/engine/models/vcm/train.ts";
import { trainModel } from "../../../src/engine/models/index.ts";
import { plantedData } from "../planted.ts";
import { checkBadColumn, checkSparseCase, SPARSE_CASES } from "./sparse-cases.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-native-"));
const addon = path.join(dir, "wasm_sgemm.node");
const build = buildNativeAddon(addon);
if (!build.ok) console.warn(`native matMul tests skipped: ${build.message}`);

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Runs f on fresh copies of the inputs with the stock kernels, then with the native ones. */
function both(inputs: tf.Tensor[], f: (...xs: tf.Tensor[]) => tf.Tensor): { stock: number[]; native: number[]; shape: number[] } {
  disableNativeMatMul();
  // Fresh tensors each time: the stock kernel keeps packed copies of its right operand per tensor.
  const stock = tf.tidy(() => values(f(...inputs.map((x) => tf.add(x, 0)))));
  expect(enableNativeMatMul(addon)).toBe(true);
  const out = tf.tidy(() => {
    const r = f(...inputs.map((x) => tf.add(x, 0)));
    return { native: values(r), shape: r.shape };
  });
  return { stock, ...out };
}

function expectClose(a: number[], b: number[], tol = 1e-4): void {
  expect(a).toHaveLength(b.length);
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]) / (1 + Math.abs(b[i])))));
  expect(worst).toBeLessThan(tol);
}

describe.skipIf(!build.ok)("native matMul on wasm", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });
  afterAll(() => {
    disableNativeMatMul();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [[3, 4], [4, 5], false, false],
    [[4, 3], [4, 5], true, false],
    [[3, 4], [5, 4], false, true],
    [[4, 3], [5, 4], true, true],
    [[2, 3, 4], [2, 4, 5], false, false],
    [[2, 4, 3], [2, 5, 4], true, true],
    [[2, 3, 4], [4, 5], false, false],
    [[3, 4], [2, 4, 5], false, false],
    [[1, 3, 4], [2, 4, 5], false, false],
    [[300, 700], [700, 900], false, false],
    // One row or one column of output (sgemv), every transpose, and in a batch.
    [[1, 4], [4, 5], false, false],
    [[4, 1], [4, 5], true, false],
    [[1, 4], [5, 4], false, true],
    [[4, 1], [5, 4], true, true],
    [[3, 4], [4, 1], false, false],
    [[4, 3], [4, 1], true, false],
    [[3, 4], [1, 4], false, true],
    [[4, 3], [1, 4], true, true],
    [[2, 1, 4], [2, 4, 5], false, false],
    [[1, 600], [600, 10_003], false, false],
    // Larger products on both sides of every shape OpenBLAS partitions differently (more columns than
    // rows, more rows than columns, a small output over a long inner dimension as the decoder's dH),
    // with transposes and in a batch.
    [[700, 300], [900, 700], true, true],
    [[900, 700], [700, 300], false, false],
    [[700, 900], [300, 700], true, true],
    [[128, 3001], [3001, 64], false, false],
    [[3001, 128], [64, 3001], true, true],
    [[128, 3001], [64, 3001], false, true],
    [[2, 128, 3001], [2, 3001, 64], false, false],
    [[2, 300, 700], [2, 700, 900], false, false],
  ] as const)("matMul %j × %j (transposeA %s, transposeB %s) equals the stock kernel", (sa, sb, ta, tb) => {
    const a = tf.randomNormal([...sa], 0, 1, "float32", 1);
    const b = tf.randomNormal([...sb], 0, 1, "float32", 2);
    const r = both([a, b], (x, y) => tf.matMul(x, y, ta, tb));
    expectClose(r.native, r.stock);
    const n = tb ? sb[sb.length - 2] : sb[sb.length - 1];
    const bias = tf.randomNormal([n], 0, 1, "float32", 3);
    const fused = both([a, b, bias], (x, y, z) => tf.fused.matMul({ a: x, b: y, bias: z, transposeA: ta, transposeB: tb }));
    const biasValues = values(bias);
    expectClose(fused.native, r.stock.map((v, i) => v + biasValues[i % n]));
    expect(fused.shape).toEqual(tf.matMul(a, b, ta, tb).shape);
    tf.dispose([a, b, bias]);
  });

  it("computes tanh as the stock kernel and Math.tanh do, below and above the size that uses both cores", () => {
    const special = [0, -0, 1e-8, -1e-8, 0.5, -0.5, 9, -9, 20, -20, 88, -88, Infinity, -Infinity, Number.NaN];
    for (const size of [1_000, 300_000]) {
      const random = values(tf.randomNormal([size - special.length], 0, 4, "float32", 7));
      const x = tf.tensor1d([...special, ...random]);
      const input = values(x);
      const r = both([x], (t) => tf.tanh(t));
      input.forEach((v, i) => {
        if (Number.isNaN(v)) {
          expect(r.native[i]).toBeNaN();
          return;
        }
        expect(Math.abs(r.native[i] - Math.tanh(v)), `tanh(${v})`).toBeLessThan(2e-7);
        expect(Math.abs(r.native[i] - r.stock[i]), `tanh(${v}) against the stock kernel`).toBeLessThan(5e-7);
      });
      // Exact at 0 (glibc's vector tanhf gives +0 for −0) and at ±∞.
      expect(r.native.slice(0, 2).map(Math.abs)).toEqual([0, 0]);
      expect(r.native.slice(12, 14)).toEqual([1, -1]);
      x.dispose();
    }
  });

  it("computes exp as the stock kernel and Math.exp do, overflow and underflow included, below and above the size that uses both cores", () => {
    const special = [0, -0, 1e-8, -1e-8, 1, -1, 20, -20, 88, 88.7, 89, -87, -104, -110, Infinity, -Infinity, Number.NaN];
    for (const size of [1_000, 300_000]) {
      const random = values(tf.randomNormal([size - special.length], 0, 8, "float32", 11));
      const x = tf.tensor1d([...special, ...random]);
      const input = values(x);
      const r = both([x], (t) => tf.exp(t));
      input.forEach((v, i) => {
        if (Number.isNaN(v)) {
          expect(r.native[i]).toBeNaN();
          return;
        }
        const want = Math.fround(Math.exp(v));
        if (!Number.isFinite(want)) {
          expect(r.native[i], `exp(${v})`).toBe(Infinity);
          return;
        }
        // Relative to the value (a few float32 ulps: glibc's vector expf is not correctly rounded), and
        // absolutely where it underflows to subnormals.
        expect(Math.abs(r.native[i] - want), `exp(${v})`).toBeLessThanOrEqual(Math.max(1e-6 * want, 1e-44));
        expect(Math.abs(r.native[i] - r.stock[i]), `exp(${v}) against the stock kernel`).toBeLessThanOrEqual(Math.max(1e-6 * want, 1e-44));
      });
      expect(r.native.slice(0, 2)).toEqual([1, 1]);
      expect(r.native.slice(14, 16)).toEqual([Infinity, 0]);
      x.dispose();
    }
  });

  it("computes the multinomial likelihood and its gradient as the tfjs ops do, rows without targets included", async () => {
    // Row 1 has no target entries; row 3 repeats column 0's neighbourhood; logits span a wide range.
    const targets = csrFromRows({ cols: 700, rows: [[[0, 2], [5, 1], [699, 3]], [], [[1, 1]], [[0, 1], [1, 4], [2, 1]]] });
    const run = async (native: boolean) => {
      disableNativeMatMul();
      if (native) expect(enableNativeMatMul(addon)).toBe(true);
      expect(nativeNllEnabled()).toBe(native);
      const logits = tf.mul(tf.randomNormal([4, 700], 0, 1, "float32", 21), tf.tensor2d([[1], [5], [30], [0.1]]));
      const dy = tf.tensor1d([1, 2, -0.5, 3]);
      const { value, grads } = tf.tidy(() => {
        const target = sparseTarget(sparseBatch({ matrix: targets, rows: [0, 1, 2, 3], normalise: false }));
        const f = (l: tf.Tensor) => tf.sum(tf.mul(multinomialNll(l as tf.Tensor2D, target), dy));
        const loss = multinomialNll(logits as tf.Tensor2D, target);
        return { value: loss, grads: tf.grads(f)([logits]) };
      });
      const out = { loss: Array.from(await value.data()), grad: Array.from(await grads[0].data()) };
      tf.dispose([logits, dy, value, ...grads]);
      return out;
    };
    const stock = await run(false);
    const native = await run(true);
    expectClose(native.loss, stock.loss, 1e-5);
    expectClose(native.grad, stock.grad, 1e-5);
    // Row 1 has no targets: no loss, and its gradient is zero (rowSum 0).
    expect(native.loss[1]).toBe(0);
    expect(native.grad.slice(700, 1400).every((g) => g === 0)).toBe(true);
    // A row's gradient is softmax · Σ x · dy − x · dy, so it sums to zero.
    expect(Math.abs(native.grad.slice(0, 700).reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);
  });

  it("computes the softmax's mean of W's columns in one read as the logits, softmax and product do, across its blocks, tails and rescales", async () => {
    // 7 rows: a block of six and one; 1,037 columns: 16 steps of 64 and a tail of 13; bias rising along the
    // columns, so each step's maximum beats the last and the running sums are rescaled, with one row far larger.
    const run = async (native: boolean) => {
      disableNativeMatMul();
      if (native) expect(enableNativeMatMul(addon)).toBe(true);
      expect(nativeSoftmaxMeanEnabled()).toBe(native);
      const h = tf.mul(tf.randomUniform([7, 50], -1, 1, "float32", 31), tf.tensor2d([[1], [1], [1], [1], [1], [1], [40]])) as tf.Tensor2D;
      const w = tf.randomNormal([50, 1037], 0, 0.3, "float32", 32) as tf.Tensor2D;
      const b = tf.mul(tf.range(0, 1037), 0.01) as tf.Tensor1D;
      const mean = softmaxMean(h, w, b);
      const out = Array.from(await mean.data());
      tf.dispose([h, w, b, mean]);
      return out;
    };
    const stock = await run(false);
    const native = await run(true);
    expect(native).toHaveLength(7 * 50);
    expectClose(native, stock, 1e-5);
  });

  it("hands activations it does not implement back to the stock kernel", () => {
    const a = tf.randomNormal([5, 6], 0, 1, "float32", 4);
    const b = tf.randomNormal([6, 7], 0, 1, "float32", 5);
    const r = both([a, b], (x, y) => tf.fused.matMul({ a: x, b: y, activation: "relu" }));
    expectClose(r.native, r.stock);
    expect(Math.min(...r.native)).toBeGreaterThanOrEqual(0);
    tf.dispose([a, b]);
  });

  it("runs Adam natively, in place, as tfjs's own Adam does on the same gradients", async () => {
    expect(enableNativeMatMul(addon)).toBe(true);
    const shapes = [[300, 700], [700], [5, 3]] as const;
    const start = shapes.map((s, i) => tf.randomNormal([...s], 0, 1, "float32", 10 + i));
    const ours = start.map((t) => tf.add(t, 0));
    const theirs = start.map((t) => tf.variable(tf.add(t, 0)));
    const adam = new Adam(ours.map((t) => t.size), { learningRate: 0.01 });
    const reference = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    for (let step = 0; step < 4; step += 1) {
      const grads = shapes.map((s, i) => tf.randomNormal([...s], 0, 1 + step, "float32", 100 * step + i));
      const updated = adam.update(ours, grads);
      // In place: the native kernels keep no packed copy of a matMul operand that could go stale.
      updated.forEach((t, i) => expect(t).toBe(ours[i]));
      reference.applyGradients(theirs.map((v, i) => ({ name: v.name, tensor: grads[i] })));
      tf.dispose(grads);
    }
    for (let i = 0; i < shapes.length; i += 1) expectClose(values(ours[i]), values(theirs[i]), 1e-5);
    // A matMul reads the updated weights, not a stale copy.
    const x = tf.randomNormal([2, 300], 0, 1, "float32", 7);
    expectClose(values(tf.matMul(x, ours[0] as tf.Tensor2D)), values(tf.matMul(x, theirs[0] as tf.Tensor2D)), 1e-4);
    tf.dispose([...start, ...ours, ...theirs, x]);
    adam.dispose();
    reference.dispose();
  });

  it("ranks the same top items natively as in JavaScript, excluding training clicks", async () => {
    const data = plantedData({ users: 64, items: 40, vocab: 50, groups: 4, seed: 9 });
    expect(enableNativeMatMul(addon)).toBe(true);
    const model = await trainModel({ train: data.train, validation: data.validation, words: data.words, config: resolveVcmConfig({ latentDim: 5, hiddenX: 12, hiddenY: 10, epochs: 1 }) });
    const input = { matrix: data.train, rows: Array.from({ length: 64 }, (_, r) => r) };
    const native = await model.topItems({ input, mode: "vcm", k: 12, exclude: data.train });
    disableNativeMatMul();
    const host = await model.topItems({ input, mode: "vcm", k: 12, exclude: data.train });
    expect(Array.from(native)).toEqual(Array.from(host));
    for (let r = 0; r < 64; r += 1) {
      const seen = new Set(data.train.indices.subarray(data.train.indptr[r], data.train.indptr[r + 1]));
      for (const item of native.subarray(r * 12, (r + 1) * 12)) expect(seen.has(item)).toBe(false);
    }
    model.dispose();
  });

  it("takes the top k of long rows (the sampled-threshold path) exactly as JavaScript does, ties and exclusions included", () => {
    expect(enableNativeMatMul(addon)).toBe(true);
    const [rows, cols, k] = [40, 3000, 100];
    const rng = new Rng(5);
    // Coarse values make ties common; row 7 is constant (all ties), row 9 excludes all but 50 columns,
    // row 11 is NaN, −0 and 0 in turn with a few positives (NaN never ranks; −0 ties with 0).
    const row11 = (j: number): number => (j % 97 === 0 ? j / 97 : [Number.NaN, -0, 0][j % 3]);
    const scores = Float32Array.from({ length: rows * cols }, (_, i) => {
      const r = Math.floor(i / cols);
      return r === 7 ? 1 : r === 11 ? row11(i % cols) : Math.round(rng.normal() * 20) / 4;
    });
    const excluded: number[][] = Array.from({ length: rows }, (_, r) =>
      r === 9 ? Array.from({ length: cols - 50 }, (_, j) => j + 50) : Array.from(new Set(Array.from({ length: 30 }, () => Math.floor(rng.next() * cols)))).sort((x, y) => x - y),
    );
    const indptr = Int32Array.from([0, ...excluded.map((e) => e.length)].map((_, i, a) => a.slice(0, i + 1).reduce((x, y) => x + y, 0)));
    const got = tf.tidy(() =>
      tf.engine().runKernel(TOP_K_KERNEL, { scores: tf.tensor2d(scores, [rows, cols]), indptr: tf.tensor1d(indptr, "int32"), excluded: tf.tensor1d(excluded.flat(), "int32") }, { k }),
    ) as tf.Tensor;
    const top = Array.from(got.dataSync());
    got.dispose();
    for (let r = 0; r < rows; r += 1) {
      const expected = Array.from(topK({ scores: scores.subarray(r * cols, (r + 1) * cols), k, exclude: Int32Array.from(excluded[r]) }));
      while (expected.length < k) expected.push(-1);
      expect(top.slice(r * k, (r + 1) * k), `row ${r}`).toEqual(expected);
    }
  });

  it.each(SPARSE_CASES)("computes the sparse first layer and its gradients as S·W + b and Sᵀ·dY: %s", async (_, matrix, h) => {
    expect(enableNativeMatMul(addon)).toBe(true);
    expect(nativeSparseEnabled()).toBe(true);
    await checkSparseCase(matrix, h);
  });

  it("refuses a sparse column outside W with a RangeError, leaving no memory behind", () => {
    expect(enableNativeMatMul(addon)).toBe(true);
    checkBadColumn();
  });

  it("gives the same training step as the stock kernels", async () => {
    const data = plantedData({ users: 64, items: 40, vocab: 50, groups: 4, seed: 9 });
    const config = resolveVcmConfig({ latentDim: 5, hiddenX: 12, hiddenY: 10 });
    const step = async (native: boolean): Promise<number[][]> => {
      if (native) enableNativeMatMul(addon);
      else disableNativeMatMul();
      const params = initParams({ numItems: 40, numWords: 50, config });
      const names = [...params.keys()];
      const adam = new Adam(names.map((n) => params.get(n)!.size), { learningRate: 1e-3, inPlace: names.map(updatableInPlace) });
      const rng = new Rng(2);
      for (let s = 0; s < 3; s += 1) await trainStep({ params, names, adam, part: "vcm", beta: 0.3, rows: [0, 5, 9, 12, 30, 63], rng, train: data.train, words: data.words, config });
      const out = names.map((n) => values(params.get(n)!));
      params.forEach((t) => t.dispose());
      adam.dispose();
      return out;
    };
    const stock = await step(false);
    const native = await step(true);
    expect(nativeMatMulEnabled()).toBe(true);
    // The native run takes the addon's sparse first layers, the stock run tfjs's sparseSegmentSum ones.
    expect(nativeSparseEnabled()).toBe(true);
    expect(prefersDenseInput({ nnz: data.words.indices.length, rows: data.words.rows, cols: data.words.cols })).toBe(false);
    native.forEach((w, i) => expectClose(w, stock[i], 1e-4));
  });
});
