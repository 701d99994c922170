/**
 * The training loop's contract on small data: per-epoch records, best-epoch weights, no tensor leaks,
 * same seed ⇒ same weights, early stopping, cancellation, snapshots, and the predictions' shapes;
 * on wasm, and on webgpu (lavapipe in CI) where an adapter exists.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrFromRows } from "../../../../src/data/csr.ts";
import { Adam } from "../../../../src/engine/runtime/adam.ts";
import { initBackend } from "../../../../src/engine/runtime/index.ts";
import { resolveVcmConfig } from "../../../../src/engine/config.ts";
import { evaluateRanking } from "../../../../src/engine/evaluate.ts";
import { topK } from "../../../../src/engine/metrics.ts";
import { VcmModel } from "../../../../src/engine/models/vcm/model.ts";
import { Rng } from "../../../../src/engine/random.ts";
import { initParams, trainStep, updatableInPlace } from "../../../../src/engine/models/vcm/train.ts";
import { recommenderFromSnapshot, trainModel, type Recommender } from "../../../../src/engine/models/index.ts";
import { ErrorCode, UserError } from "../../../../src/errors.ts";
import { plantedData } from "../../planted.ts";
import { WEBGPU_SKIP_REASON } from "../../webgpu-available.ts";

const data = plantedData({ users: 160, items: 60, vocab: 80, groups: 4, seed: 3 });
const small = { latentDim: 6, hiddenX: 16, hiddenY: 16, batchSize: 32, annealSteps: 50, evalBatchSize: 50 };

for (const backend of ["wasm", "webgpu"] as const) {
describe.skipIf(backend === "webgpu" && WEBGPU_SKIP_REASON !== undefined)(`on ${backend}`, () => {
beforeAll(async () => {
  expect(await initBackend(backend)).toBe(backend);
});
afterAll(async () => {
  await initBackend("wasm");
});

function train(config: Record<string, unknown>, extra: { signal?: AbortSignal; onEpoch?: () => void } = {}): Promise<Recommender> {
  return trainModel({ train: data.train, validation: data.validation, words: data.words, config: resolveVcmConfig({ ...small, ...config }), ...extra });
}

describe("trainModel", () => {
  it("records every loss term per epoch and keeps the best validation epoch's weights", async () => {
    const model = await train({ epochs: 6, seed: 2 });
    expect(model.history).toHaveLength(6);
    model.history.forEach((h, i) => {
      expect(h.epoch).toBe(i + 1);
      // 5 steps per epoch (160 users / 32): β = min(0.4, steps / 50).
      expect(h.beta).toBeCloseTo(Math.min(0.4, (5 * (i + 1)) / 50), 12);
      for (const v of [h.reconX, h.reconY, h.valNdcg100, h.seconds]) expect(Number.isFinite(v)).toBe(true);
      for (const v of [h.klPriorX, h.klPriorY, h.klCrossX, h.klCrossY]) expect(v).toBeGreaterThanOrEqual(0);
    });
    const best = model.history.reduce((a, b) => (b.valNdcg100 > a.valNdcg100 ? b : a));
    expect(model.bestEpoch).toBe(best.epoch);
    // The returned weights are that epoch's: re-evaluating them gives its validation NDCG@100.
    const again = await evaluateRanking({ model, mode: "vcm", input: data.train, heldOut: data.validation, exclude: data.train, ks: [100] });
    expect(again.means["ndcg@100"]).toBeCloseTo(best.valNdcg100, 6);
    model.dispose();
  });

  it("leaks no tensor across a training step and a prediction, nor across a whole run", async () => {
    const config = resolveVcmConfig(small);
    const params = initParams({ numItems: data.train.cols, numWords: data.words.cols, config });
    const names = [...params.keys()];
    const adam = new Adam(names.map((n) => params.get(n)!.size), { learningRate: 1e-3, inPlace: names.map(updatableInPlace) });
    const model = VcmModel.create({ config, backend, device: backend, numItems: data.train.cols, numWords: data.words.cols, params, history: [], bestEpoch: 0 });
    const rng = new Rng(1);
    await trainStep({ params, names, adam, part: "vcm", beta: 0.1, rows: [0, 1, 2, 3], rng, train: data.train, words: data.words, config });
    await model.scoreItems({ matrix: data.train, rows: [0, 1] }, "vcm");
    const before = tf.memory().numTensors;
    await trainStep({ params, names, adam, part: "vcm", beta: 0.1, rows: [4, 5, 6, 7], rng, train: data.train, words: data.words, config });
    await model.scoreItems({ matrix: data.train, rows: [0, 1] }, "vcm");
    await model.wordDistribution({ matrix: data.train, rows: [0] });
    await model.capacity({ matrix: data.train, rows: [0] });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    adam.dispose();

    const start = tf.memory().numTensors;
    (await train({ epochs: 2, variant: "vcm-od" })).dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it("first-order word effects follow the output layer through training steps, and dispose frees the copy the model keeps", async () => {
    const start = tf.memory().numTensors;
    const config = resolveVcmConfig(small);
    const params = initParams({ numItems: data.train.cols, numWords: data.words.cols, config });
    const names = [...params.keys()];
    const adam = new Adam(names.map((n) => params.get(n)!.size), { learningRate: 1e-3, inPlace: names.map(updatableInPlace) });
    const model = VcmModel.create({ config, backend, device: backend, numItems: data.train.cols, numWords: data.words.cols, params, history: [], bestEpoch: 0 });
    const pairs = [{ row: 0, item: 1 }, { row: 5, item: 7 }, { row: 5, item: 30 }];
    const untrained = await model.wordEffects({ words: data.words, pairs });
    await trainStep({ params, names, adam, part: "vcm", beta: 0.1, rows: [0, 1, 2, 3, 4, 5], rng: new Rng(1), train: data.train, words: data.words, config });
    // The kept W_outᵀ is made again from the stepped x.out.W: a model rebuilt from the weights agrees bit for bit.
    const stepped = await model.wordEffects({ words: data.words, pairs });
    const rebuilt = VcmModel.fromSnapshot(await model.snapshot());
    expect(stepped).toEqual(await rebuilt.wordEffects({ words: data.words, pairs }));
    expect(stepped).not.toEqual(untrained);
    rebuilt.dispose();
    model.dispose();
    adam.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it("gives identical weights for the same seed and different ones for another seed", async () => {
    const weights = async (seed: number): Promise<Float32Array[]> => {
      const m = await train({ epochs: 2, seed });
      const w = (await m.snapshot()).weights.map((x) => x.values);
      m.dispose();
      return w;
    };
    const [a, b, c] = [await weights(4), await weights(4), await weights(5)];
    a.forEach((values, i) => expect(Array.from(b[i])).toEqual(Array.from(values)));
    expect(Array.from(c[0])).not.toEqual(Array.from(a[0]));
  });

  it("stops early after `patience` epochs without a better validation NDCG@100", async () => {
    // A huge step size makes validation quality jump around, so an epoch without improvement comes soon.
    const model = await train({ epochs: 40, patience: 2, learningRate: 0.5 });
    expect(model.history.length).toBeLessThan(40);
    expect(model.history.length).toBe(model.bestEpoch + 2);
    model.dispose();
  });

  it("stops with an AbortError when its signal is aborted, freeing its tensors", async () => {
    const start = tf.memory().numTensors;
    const controller = new AbortController();
    const epochs: number[] = [];
    const run = trainModel({
      train: data.train,
      validation: data.validation,
      words: data.words,
      config: resolveVcmConfig({ ...small, epochs: 50 }),
      signal: controller.signal,
      onEpoch: (r) => {
        epochs.push(r.epoch);
        controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(epochs).toEqual([1]);
    expect(tf.memory().numTensors).toBe(start);
  });

  it("keeps the last epoch when no user has a validation click (NDCG@100 is then NaN)", async () => {
    const empty = csrFromRows({ cols: data.train.cols, rows: Array.from({ length: data.train.rows }, () => []) });
    const model = await trainModel({ train: data.train, validation: empty, words: data.words, config: resolveVcmConfig({ ...small, epochs: 3 }) });
    expect(model.bestEpoch).toBe(3);
    expect(model.history.map((h) => h.valNdcg100).every(Number.isNaN)).toBe(true);
    model.dispose();
  });

  it("rejects matrices that do not describe the same users", async () => {
    const wrong = csrFromRows({ cols: data.words.cols, rows: [[[0, 1]]] });
    await expect(trainModel({ train: data.train, validation: data.validation, words: wrong, config: resolveVcmConfig(small) })).rejects.toThrow(
      /must have one row per user each/,
    );
  });
});

describe("VcmModel", () => {
  it("predicts in batches: probabilities over items and words, capacities, from clicks or from words", async () => {
    const model = await train({ epochs: 2, evalBatchSize: 3 });
    const rows = [0, 5, 9, 11, 20];
    const items = await model.scoreItems({ matrix: data.train, rows }, "vcm");
    const fromWords = await model.scoreItems({ matrix: data.words, rows }, "vcm-cd");
    const words = await model.wordDistribution({ matrix: data.train, rows });
    const capacity = await model.capacity({ matrix: data.train, rows });
    expect(items).toHaveLength(rows.length * data.train.cols);
    expect(words).toHaveLength(rows.length * data.words.cols);
    for (const [scores, width] of [[items, data.train.cols], [fromWords, data.train.cols], [words, data.words.cols]] as const) {
      for (let r = 0; r < rows.length; r += 1) {
        const sum = scores.subarray(r * width, (r + 1) * width).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(1, 4);
      }
    }
    for (const c of capacity) expect(c).toBeGreaterThanOrEqual(0);
    // Batching does not change results: one user alone scores as inside a batch.
    const alone = await model.scoreItems({ matrix: data.train, rows: [11] }, "vcm");
    expect(Array.from(alone)).toEqual(Array.from(items.subarray(3 * data.train.cols, 4 * data.train.cols)));
    // A text that is in no row of the data (cold start): one CSR row over the vocabulary.
    // A second, empty text at the end of the batch still gets a distribution (the sparse layer pads it).
    const text = csrFromRows({ cols: data.words.cols, rows: [[[1, 2], [7, 1]], []] });
    const cold = await model.scoreItems({ matrix: text, rows: [0, 1] }, "vcm-cd");
    expect(cold).toHaveLength(2 * data.train.cols);
    expect(cold.subarray(data.train.cols).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    await expect(model.scoreItems({ matrix: data.words, rows: [0] }, "vcm")).rejects.toThrow(UserError);
    model.dispose();
  });

  it("ranks the top items where the scores are, as a top-k over scoreItems does, padding short rows with −1", async () => {
    const model = await train({ epochs: 2, evalBatchSize: 4 });
    const rows = [0, 3, 7, 11, 19, 40];
    const cols = data.train.cols;
    // Exclusions are the training clicks, except that row 3 excludes all items but the last two.
    const exclude = csrFromRows({
      cols,
      rows: Array.from({ length: data.train.rows }, (_, r) =>
        r === 3
          ? Array.from({ length: cols - 2 }, (_, i) => [i, 1] as [number, number])
          : Array.from(data.train.indices.subarray(data.train.indptr[r], data.train.indptr[r + 1]), (i) => [i, 1] as [number, number]),
      ),
    });
    const top = await model.topItems({ input: { matrix: data.train, rows }, mode: "vcm", k: 5, exclude });
    const scores = await model.scoreItems({ matrix: data.train, rows }, "vcm");
    rows.forEach((r, b) => {
      const expected = Array.from(topK({ scores: scores.subarray(b * cols, (b + 1) * cols), k: 5, exclude: exclude.indices.subarray(exclude.indptr[r], exclude.indptr[r + 1]) }));
      while (expected.length < 5) expected.push(-1);
      expect(Array.from(top.subarray(b * 5, (b + 1) * 5)), `row ${r}`).toEqual(expected);
    });
    // Row 3 has two items left: both, best first, then −1s.
    expect(new Set(top.subarray(5, 7))).toEqual(new Set([cols - 2, cols - 1]));
    expect(Array.from(top.subarray(7, 10))).toEqual([-1, -1, -1]);
    model.dispose();
  });

  it("rebuilds from its snapshot with identical scores", async () => {
    const model = await train({ epochs: 2 });
    const copy = VcmModel.fromSnapshot(await model.snapshot());
    const rows = [1, 2, 3];
    expect(Array.from(await copy.scoreItems({ matrix: data.train, rows }, "vcm"))).toEqual(Array.from(await model.scoreItems({ matrix: data.train, rows }, "vcm")));
    expect(copy.bestEpoch).toBe(model.bestEpoch);
    expect(copy.history).toEqual(model.history);
    const snapshot = await model.snapshot();
    const damaged = { ...snapshot, weights: snapshot.weights.slice(1) };
    expect(() => VcmModel.fromSnapshot(damaged)).toThrow(/x.enc.W is missing/);
    model.dispose();
    copy.dispose();
  });

  it("popularity ranks by train-click counts and has no word distribution or capacity", async () => {
    const model = await train({ variant: "popularity" });
    const counts = new Float32Array(data.train.cols);
    for (const i of data.train.indices) counts[i] += 1;
    expect(Array.from(await model.scoreItems({ matrix: data.words, rows: [0] }, "vcm-cd"))).toEqual(Array.from(counts));
    for (const call of [() => model.wordDistribution({ matrix: data.train, rows: [0] }), () => model.capacity({ matrix: data.train, rows: [0] })]) {
      await expect(call()).rejects.toMatchObject({ code: ErrorCode.BAD_USER_INPUT, message: expect.stringMatching(/^the popularity baseline has no /) });
    }
    const copy = recommenderFromSnapshot(await model.snapshot());
    expect(Array.from(await copy.scoreItems({ matrix: data.train, rows: [3] }, "vcm"))).toEqual(Array.from(counts));
  });
});
});
}
