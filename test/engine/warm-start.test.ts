/**
 * Warm start (TrainOptions.from): a model trained on the first 50 items continues on data with 60; its
 * saved weights are the new run's initial weights bit for bit (through a checkpoint on disk), the
 * appended items' rows are a fresh start's, β continues from the saved best epoch, and the run trains.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrFromRows, type CsrMatrix } from "../../src/data/csr.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/engine/checkpoint.ts";
import { resolveVcmConfig, resolveWarmStartConfig, WARM_START_LEARNING_RATE_DIVISOR, warmStartConflict } from "../../src/engine/config.ts";
import { trainModel, type Recommender } from "../../src/engine/models/index.ts";
import { betaStartStep, initParams, warmStartParams } from "../../src/engine/models/vcm/train.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";
import type { ModelSnapshot } from "../../src/engine/types.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { plantedData } from "./planted.ts";

const KNOWN = 50;
const grown = plantedData({ users: 160, items: 60, vocab: 80, groups: 4, seed: 3 });
const small = { latentDim: 6, hiddenX: 16, hiddenY: 16, batchSize: 32, annealSteps: 50, evalBatchSize: 50 };

/** The matrix as it was before items KNOWN.. were appended: their clicks removed, KNOWN columns. */
function beforeAppend(m: CsrMatrix): CsrMatrix {
  const rows = Array.from({ length: m.rows }, (_, r) => {
    const out: Array<[number, number]> = [];
    for (let j = m.indptr[r]; j < m.indptr[r + 1]; j += 1) if (m.indices[j] < KNOWN) out.push([m.indices[j], m.values[j]]);
    return out;
  });
  return csrFromRows({ cols: KNOWN, rows });
}

const old = { train: beforeAppend(grown.train), validation: beforeAppend(grown.validation), words: grown.words };
let saved: Recommender;
let dir: string;

beforeAll(async () => {
  await initBackend("wasm");
  saved = await trainModel({ ...old, config: resolveVcmConfig({ ...small, epochs: 4, seed: 2 }) });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-warm-"));
});

afterAll(async () => {
  saved.dispose();
  await fs.rm(dir, { recursive: true, force: true });
});

/** A snapshot as a later process reads it: saved to a checkpoint folder and loaded back. */
async function throughDisk(model: Recommender, name: string): Promise<ModelSnapshot> {
  await saveCheckpoint({ dir: path.join(dir, name), snapshot: await model.snapshot() });
  return (await loadCheckpoint(path.join(dir, name))).snapshot;
}

describe("warm start", () => {
  it("starts from the saved weights bit for bit, with the appended items' rows as a fresh start's", async () => {
    const from = await throughDisk(saved, "model-a");
    const config = resolveVcmConfig({ ...small, seed: 9 });
    const sizes = { numItems: grown.train.cols, numWords: grown.words.cols, config };
    const before = tf.memory().numTensors;
    const warm = warmStartParams({ ...sizes, from });
    const fresh = initParams(sizes);
    const original = new Map((await saved.snapshot()).weights.map((w) => [w.name, w]));
    const hidden = small.hiddenX;
    for (const [name, tensor] of warm) {
      const values = (await tensor.data()) as Float32Array;
      const freshValues = (await fresh.get(name)!.data()) as Float32Array;
      const known = original.get(name)!.values;
      if (name === "x.enc.W") {
        // [items, hidden]: the first KNOWN rows are the saved ones, the next 10 a fresh start's.
        expect(tensor.shape).toEqual([60, hidden]);
        expect(Buffer.from(values.buffer, values.byteOffset, KNOWN * hidden * 4).equals(Buffer.from(known.buffer, known.byteOffset, known.byteLength))).toBe(true);
        expect(Array.from(values.subarray(KNOWN * hidden))).toEqual(Array.from(freshValues.subarray(KNOWN * hidden)));
      } else if (name === "x.out.W") {
        // [hidden, items]: in every row, columns 0..KNOWN−1 saved, KNOWN.. fresh.
        expect(tensor.shape).toEqual([hidden, 60]);
        for (let h = 0; h < hidden; h += 1) {
          expect(Array.from(values.subarray(h * 60, h * 60 + KNOWN))).toEqual(Array.from(known.subarray(h * KNOWN, (h + 1) * KNOWN)));
          expect(Array.from(values.subarray(h * 60 + KNOWN, (h + 1) * 60))).toEqual(Array.from(freshValues.subarray(h * 60 + KNOWN, (h + 1) * 60)));
        }
      } else if (name === "x.out.b") {
        expect(Array.from(values.subarray(0, KNOWN))).toEqual(Array.from(known));
        // Biases start at 0, as at a fresh start.
        expect(Array.from(values.subarray(KNOWN))).toEqual(new Array(10).fill(0));
      } else {
        // Every weight that does not depend on the items is the saved one, bit for bit.
        expect(Buffer.from(values.buffer, values.byteOffset, values.byteLength).equals(Buffer.from(known.buffer, known.byteOffset, known.byteLength))).toBe(true);
      }
    }
    // The fresh rows are really random (not zeros), so the comparison above says something.
    const encoder = (await warm.get("x.enc.W")!.data()) as Float32Array;
    expect(encoder.subarray(KNOWN * hidden).some((v) => v !== 0)).toBe(true);
    warm.forEach((t) => t.dispose());
    fresh.forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it("continues β from the saved best epoch and trains a model over every item", async () => {
    const from = await throughDisk(saved, "model-b");
    const config = resolveVcmConfig({ ...small, epochs: 2, seed: 2 });
    const savedBeta = from.history.find((h) => h.epoch === from.bestEpoch)!.beta;
    const start = betaStartStep({ from, config });
    expect(start).toBe(Math.round(savedBeta * 50));
    expect(betaStartStep({ from: undefined, config })).toBe(0);
    const before = tf.memory().numTensors;
    const warm = await trainModel({ ...grown, config, from });
    const fresh = await trainModel({ ...grown, config });
    expect(warm.numItems).toBe(60);
    expect(warm.history).toHaveLength(2);
    // 5 steps an epoch (160 users / 32), counted on from where the saved model's best epoch left β.
    warm.history.forEach((h, i) => expect(h.beta).toBeCloseTo(Math.min(0.4, (start + 5 * (i + 1)) / 50), 12));
    expect(fresh.history[0].beta).toBeCloseTo(5 / 50, 12);
    // It trained from the saved weights, not from the seed's: same seed and data, other weights.
    const [w, f] = [(await warm.snapshot()).weights[0].values, (await fresh.snapshot()).weights[0].values];
    expect(Array.from(w)).not.toEqual(Array.from(f));
    for (const h of warm.history) expect(h.valNdcg100).toBeGreaterThan(0.3);
    const scores = await warm.scoreItems({ matrix: grown.train, rows: [0, 1] }, "vcm");
    expect(scores).toHaveLength(2 * 60);
    warm.dispose();
    fresh.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("continues vcm-od through both its phases, β going on from the saved best epoch in each", async () => {
    const config = resolveVcmConfig({ ...small, variant: "vcm-od", epochs: 1, seed: 2 });
    const od = await trainModel({ ...old, config });
    const from = await od.snapshot();
    od.dispose();
    const before = tf.memory().numTensors;
    const warm = await trainModel({ ...grown, config, from });
    const start = betaStartStep({ from, config });
    expect(warm.numItems).toBe(60);
    expect(warm.history).toHaveLength(1);
    expect(warm.history[0].beta).toBeCloseTo(Math.min(0.4, (start + 5) / 50), 12);
    warm.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses another variant, another weight shape, fewer items or other words, and a model without weights", async () => {
    const from = await saved.snapshot();
    const refusal = (config: Record<string, unknown>, data: { train: CsrMatrix; validation: CsrMatrix; words: CsrMatrix } = grown, snapshot: ModelSnapshot = from): Promise<unknown> =>
      trainModel({ ...data, config: resolveVcmConfig({ ...small, epochs: 1, ...config }), from: snapshot }).then(
        () => undefined,
        (error: unknown) => error,
      );
    const variant = await refusal({ variant: "vcm-se" });
    expect(variant).toBeInstanceOf(UserError);
    expect((variant as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
    expect((variant as Error).message).toMatch(/is a vcm model and a warm start continues the same variant/);
    expect(((await refusal({ latentDim: 7 })) as Error).message).toMatch(/^latentDim is 6 in the saved model but 7 was asked/);
    expect(((await refusal({ hiddenY: 17 })) as Error).message).toMatch(/^hiddenY is 16/);
    const shrunk = { words: grown.words, train: csrFromRows({ cols: 40, rows: Array.from({ length: 160 }, () => [[0, 1] as [number, number]]) }), validation: csrFromRows({ cols: 40, rows: Array.from({ length: 160 }, () => []) }) };
    expect(((await refusal({}, shrunk)) as Error).message).toMatch(/knows 50 items and 80 words but the data has 40 items/);
    const popularity = await trainModel({ ...grown, config: resolveVcmConfig({ variant: "popularity" }) });
    const counts = await popularity.snapshot();
    popularity.dispose();
    expect(((await refusal({ variant: "popularity" }, grown, counts)) as Error).message).toMatch(/a popularity model cannot be continued/);
    expect(warmStartConflict({ saved: resolveVcmConfig(small), requested: resolveVcmConfig({ ...small, epochs: 3, learningRate: 0.01 }), model: "model 1" })).toBeUndefined();
  });

  it("resolves a warm start's settings over the saved model's, its learning rate divided unless given", () => {
    const saved = resolveVcmConfig({ ...small, learningRate: 0.003, beta: 0.2 });
    const config = resolveWarmStartConfig({ saved, requested: { epochs: 3 }, model: "model 1" });
    expect(config).toMatchObject({ ...small, beta: 0.2, epochs: 3, learningRate: 0.003 / WARM_START_LEARNING_RATE_DIVISOR });
    expect(WARM_START_LEARNING_RATE_DIVISOR).toBe(3);
    expect(resolveWarmStartConfig({ saved, requested: { learningRate: 0.01 }, model: "model 1" }).learningRate).toBe(0.01);
    expect(() => resolveWarmStartConfig({ saved, requested: { latentDim: 7 }, model: "model 1" })).toThrow(
      new UserError(ErrorCode.BAD_USER_INPUT, "LatentDim is 6 in model 1 but 7 was asked; a warm start keeps the weights' shapes, so leave latentDim out or set it to 6."),
    );
  });
});
