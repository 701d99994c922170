/**
 * The sampled softmax of training (issue 27, item 3; models/vcm/sampling.ts, losses.ts): its gradients
 * against finite differences on a tiny model, its loss equal to the full one when the batch's positives
 * cover every column and converging to it as the negatives grow, the fields refused for the models that
 * do not read them, and a model trained with it answering from the full softmax over every item.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { csrFromRows, type CsrMatrix } from "../../../../src/data/csr.ts";
import { sparseBatch } from "../../../../src/engine/batch.ts";
import { resolveVcmConfig, type VcmConfig } from "../../../../src/engine/config.ts";
import { estimateTrainingMemory, sampledSoftmaxActivationBytes } from "../../../../src/engine/memory.ts";
import { trainModel } from "../../../../src/engine/models/index.ts";
import { initialValues, type Params } from "../../../../src/engine/models/params.ts";
import { jointLoss } from "../../../../src/engine/models/vcm/losses.ts";
import { FULL_SOFTMAX_SHARE, proposalOf, proposalProbability, sampleColumns, sampleColumnsOrAll } from "../../../../src/engine/models/vcm/sampling.ts";
import { initParams, lossTerms, sampledColumnTensors, trainStep, updatableInPlace } from "../../../../src/engine/models/vcm/train.ts";
import { decode, encode, paramSpecs } from "../../../../src/engine/models/vcm/vae.ts";
import { Rng } from "../../../../src/engine/random.ts";
import { Adam, initBackend, sparseBatchTensors, sparseTarget } from "../../../../src/engine/runtime/index.ts";
import { ErrorCode, UserError } from "../../../../src/errors.ts";
import { plantedData } from "../../planted.ts";

const config = resolveVcmConfig({ latentDim: 3, hiddenX: 5, hiddenY: 4 });
const rows = [0, 1, 2, 3];

/** Four users over `items` items and `vocab` words; positives cover items 0, 1, 2, 4, 5, 6 and words 0, 1, 2, 3, 7, 8. */
function tinyData(o: { items: number; vocab: number }): { clicks: CsrMatrix; words: CsrMatrix } {
  return {
    clicks: csrFromRows({ cols: o.items, rows: [[[1, 1], [4, 1]], [[1, 1], [2, 1], [4, 1], [6, 1]], [[0, 1]], [[4, 1], [5, 1]]] }),
    words: csrFromRows({ cols: o.vocab, rows: [[[0, 3], [8, 1]], [[2, 1], [3, 5], [8, 2]], [], [[1, 1], [3, 2], [7, 4]]] }),
  };
}

/**
 * The batch's reconstruction terms and loss (fixed ε, no dropout) for the given parameter values, with
 * the full softmax or with `negatives` drawn from `proposal` by a generator seeded with `sampleSeed`.
 */
async function batchLoss(o: {
  values: Float32Array[];
  data: { clicks: CsrMatrix; words: CsrMatrix };
  sampled?: { negatives: number; proposal: VcmConfig["sampledProposal"]; sampleSeed: number };
  grads?: boolean;
}): Promise<{ value: number; reconX: number; reconY: number; grads: Float32Array[] }> {
  const { clicks, words } = o.data;
  const specs = paramSpecs({ numItems: clicks.cols, numWords: words.cols, config });
  const rng = new Rng(3);
  const xRaw = sparseBatch({ matrix: clicks, rows, normalise: false });
  const yRaw = sparseBatch({ matrix: words, rows, normalise: false });
  const sampleRng = new Rng(o.sampled?.sampleSeed ?? 0);
  const sample = (target: typeof xRaw, matrix: CsrMatrix) =>
    o.sampled === undefined ? undefined : sampleColumns({ target, proposal: proposalOf({ kind: o.sampled.proposal, matrix }), negatives: o.sampled.negatives, rng: sampleRng });
  const sampledX = sample(xRaw, clicks);
  const sampledY = sample(yRaw, words);
  const out = tf.tidy(() => {
    const params: Params = new Map(specs.map((s, i) => [s.name, tf.tensor(o.values[i], [...s.shape])]));
    const inputs = {
      xIn: sparseBatchTensors(sparseBatch({ matrix: clicks, rows })),
      xTarget: sparseTarget(xRaw),
      yIn: sparseBatchTensors(sparseBatch({ matrix: words, rows })),
      yTarget: sparseTarget(yRaw),
      epsX: tf.tensor2d(rng.normals(12), [4, 3]),
      epsY: tf.tensor2d(rng.normals(12), [4, 3]),
      sampledX: sampledX && sampledColumnTensors(sampledX),
      sampledY: sampledY && sampledColumnTensors(sampledY),
    };
    let recon: tf.Tensor[] = [];
    const f = () => {
      const terms = lossTerms({ params, part: "vcm", ...inputs });
      recon = [tf.keep(tf.mean(terms.reconX)), tf.keep(tf.mean(terms.reconY))];
      return jointLoss({ terms, beta: 0.7, part: "vcm" });
    };
    if (o.grads !== true) {
      const value = f();
      return [value, ...recon];
    }
    const { value, grads } = tf.valueAndGrads(f)(specs.map((s) => params.get(s.name)!));
    return [value, ...recon, ...grads];
  });
  const [value, reconX, reconY, ...grads] = await Promise.all(out.map(async (t) => Float32Array.from((await t.data()) as Float32Array)));
  tf.dispose(out);
  return { value: value[0], reconX: reconX[0], reconY: reconY[0], grads };
}

/** Seeded weights, larger than the defaults so that every term matters. */
function weights(data: { clicks: CsrMatrix; words: CsrMatrix }): Float32Array[] {
  const specs = paramSpecs({ numItems: data.clicks.cols, numWords: data.words.cols, config });
  return initialValues(specs, 11).map((v, i) => (specs[i].shape.length === 1 ? v.map((_, j) => 0.1 * Math.sin(j + i)) : v.map((x) => 2 * x)));
}

describe.each(["wasm", "cpu"] as const)("sampled softmax on %s", (backend) => {
  afterAll(async () => {
    await initBackend("wasm");
  });

  it.each(["uniform", "popularity"] as const)("has the gradients of central finite differences (%s proposal)", async (proposal) => {
    await initBackend(backend);
    // Items 3 and 7–11 and words 4–6 are no user's positives, so the draws add negative columns.
    const data = tinyData({ items: 12, vocab: 9 });
    const specs = paramSpecs({ numItems: 12, numWords: 9, config });
    const base = weights(data);
    const sampled = { negatives: 6, proposal, sampleSeed: 5 };
    const { grads } = await batchLoss({ values: base, data, sampled, grads: true });
    const drawn = sampleColumns({
      target: sparseBatch({ matrix: data.clicks, rows, normalise: false }),
      proposal: proposalOf({ kind: proposal, matrix: data.clicks }),
      negatives: 6,
      rng: new Rng(5),
    });
    const negative = drawn.columns[drawn.columns.length - 1];
    expect(drawn.columns.length).toBeGreaterThan(6);
    const undrawn = Array.from({ length: 12 }, (_, j) => j).find((j) => !drawn.columns.includes(j))!;
    const h = 1e-2;
    let checked = 0;
    for (const [i, spec] of specs.entries()) {
      const outW = spec.name === "x.out.W";
      // For x.out.W: a drawn negative's column, a never-drawn one (gradient 0) and a positive's, in hidden row 1.
      const entries = outW ? [12 + negative, 12 + undrawn, 12 + 4] : [0, Math.floor(base[i].length / 2), base[i].length - 1];
      for (const j of entries) {
        const plus = base.map((v) => v.slice());
        const minus = base.map((v) => v.slice());
        plus[i][j] += h;
        minus[i][j] -= h;
        const numeric = ((await batchLoss({ values: plus, data, sampled })).value - (await batchLoss({ values: minus, data, sampled })).value) / (2 * h);
        expect(Math.abs(grads[i][j] - numeric), `${spec.name}[${j}]: analytic ${grads[i][j]} vs numeric ${numeric}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
        checked += 1;
      }
    }
    expect(checked).toBe(specs.length * 3);
    const outW = grads[specs.findIndex((s) => s.name === "x.out.W")];
    expect(Math.abs(outW[12 + negative])).toBeGreaterThan(1e-4);
    expect(outW[12 + undrawn]).toBe(0);
  });

  it("equals the full softmax's loss when the batch's positives cover every column", async () => {
    await initBackend(backend);
    // Items 0, 1, 2, 4, 5, 6 and words 0, 1, 2, 3, 7, 8 are positives; drop the others from the shapes.
    const covered = {
      clicks: csrFromRows({ cols: 4, rows: [[[1, 1], [3, 1]], [[1, 1], [2, 1]], [[0, 1]], [[3, 1]]] }),
      words: csrFromRows({ cols: 4, rows: [[[0, 3]], [[2, 1], [3, 5]], [], [[1, 1], [3, 2]]] }),
    };
    const values = weights(covered);
    const full = await batchLoss({ values, data: covered });
    const sampled = await batchLoss({ values, data: covered, sampled: { negatives: 50, proposal: "uniform", sampleSeed: 1 } });
    expect(full.reconX).toBeGreaterThan(1);
    expect(Math.abs(sampled.reconX - full.reconX)).toBeLessThan(1e-5 * full.reconX);
    expect(Math.abs(sampled.reconY - full.reconY)).toBeLessThan(1e-5 * full.reconY);
    expect(Math.abs(sampled.value - full.value)).toBeLessThan(1e-5 * Math.abs(full.value));
  });

  it.each(["uniform", "popularity"] as const)("converges to the full softmax's loss as the negatives grow (%s proposal)", async (proposal) => {
    await initBackend(backend);
    const data = tinyData({ items: 300, vocab: 200 });
    const values = weights(data);
    const full = await batchLoss({ values, data });
    const gaps: number[] = [];
    for (const negatives of [5, 50, 500, 20_000]) {
      let gap = 0;
      for (const sampleSeed of [1, 2, 3, 4]) {
        const s = await batchLoss({ values, data, sampled: { negatives, proposal, sampleSeed } });
        gap += (Math.abs(s.reconX - full.reconX) / full.reconX + Math.abs(s.reconY - full.reconY) / full.reconY) / 8;
      }
      gaps.push(gap);
    }
    // Mean relative gap of the two reconstruction terms over four draws, at 5, 50, 500 and 20,000 negatives.
    expect(gaps[0]).toBeGreaterThan(gaps[2]);
    expect(gaps[1]).toBeGreaterThan(gaps[3]);
    expect(gaps[3]).toBeLessThan(2e-3);
  });
});

describe("sampled softmax proposals", () => {
  it("weighs each column by its training count plus one, and draws by those weights", () => {
    const matrix = csrFromRows({ cols: 3, rows: [[[0, 1], [2, 1]], [[2, 1]], [[2, 1]]] });
    const popularity = proposalOf({ kind: "popularity", matrix });
    expect([0, 1, 2].map((j) => proposalProbability(popularity, j))).toEqual([2 / 7, 1 / 7, 4 / 7]);
    expect(proposalProbability(proposalOf({ kind: "uniform", matrix }), 1)).toBeCloseTo(1 / 3, 12);
    const rng = new Rng(9);
    const counts = [0, 0, 0];
    const draws = 70_000;
    const target = sparseBatch({ matrix: csrFromRows({ cols: 3, rows: [[]] }), rows: [0], normalise: false });
    const s = sampleColumns({ target, proposal: popularity, negatives: draws, rng });
    // No positives: every distinct drawn column is scored, each corrected by log(N · q_j / c_j).
    s.columns.forEach((j, k) => (counts[j] = Math.round((draws * proposalProbability(popularity, j)) / Math.exp(s.correction[k]))));
    expect(counts.map((c) => c / draws).map((f, j) => Math.abs(f - proposalProbability(popularity, j)))).toSatisfy((d: number[]) => d.every((x) => x < 0.01));
  });
});

describe("sampled softmax columns", () => {
  it("are the full softmax's for a step whose columns would reach half of a decoder's", () => {
    const matrix = csrFromRows({ cols: 20, rows: [[[0, 1], [1, 1], [2, 1]], [[2, 1], [3, 1]]] });
    const target = sparseBatch({ matrix, rows: [0, 1], normalise: false });
    const proposal = proposalOf({ kind: "uniform", matrix });
    // 4 positives and at most 3 distinct negatives: under 10 of 20 columns, so sampled.
    const few = sampleColumnsOrAll({ target, proposal, negatives: 3, rng: new Rng(1) });
    expect(Array.from(few!.columns.subarray(0, 4))).toEqual([0, 1, 2, 3]);
    expect(Array.from(few!.target.idx)).toEqual([0, 1, 2, 2, 3]);
    expect(few!.columns.length).toBeLessThanOrEqual(7);
    // 4 positives and 60 draws reach 10 of 20 columns (every column but a few is drawn).
    expect(sampleColumnsOrAll({ target, proposal, negatives: 60, rng: new Rng(1) })).toBeUndefined();
    expect(FULL_SOFTMAX_SHARE).toBe(0.5);
  });
});

describe("sampled softmax memory estimate", () => {
  it("counts a step's sampled columns instead of every item and word", () => {
    // catalog-200k of bench:train: 16 training clicks and 300 words per user.
    const shape = { users: 100_000, items: 200_000, words: 10_000, trainClicks: 1_600_000, wordEntries: 30_000_000 };
    const full = resolveVcmConfig({ evalBatchSize: 16 });
    const sampled = resolveVcmConfig({ evalBatchSize: 16, sampledSoftmax: 1_000 });
    // Full: 128 × (200,000 + 10,000) × 4 bytes × 4 copies.
    expect(estimateTrainingMemory(shape, full).activationBytes).toBe(430_080_000);
    // Items: 128 × 16 positives + 1,000 = 3,048 columns; words: all 10,000 (128 × 300 + 1,000 exceeds them);
    // 128 × 13,048 × 16 bytes of activations, and 16 bytes per gathered entry: 600 × 3,048 and 100 × 10,000.
    expect(sampledSoftmaxActivationBytes(shape, sampled)).toBe(26_722_304 + 29_260_800 + 16_000_000);
    expect(estimateTrainingMemory(shape, sampled).activationBytes).toBe(71_983_104);
    // Evaluation still scores every item, one item block at a time (running-top-k.ts): 512 users × (32,768 items + 10,000 words) bound the estimate at the default evalBatchSize.
    expect(estimateTrainingMemory(shape, resolveVcmConfig({ sampledSoftmax: 1_000 })).activationBytes).toBe(512 * (32_768 + 10_000) * 16);
  });
});

describe("sampled softmax configuration", () => {
  it("is refused for the models that do not read it, and the proposal without it", () => {
    const refusal = (partial: Record<string, unknown>): string => {
      try {
        resolveVcmConfig(partial);
      } catch (error) {
        expect(error).toBeInstanceOf(UserError);
        expect((error as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(refusal({ variant: "cdl", sampledSoftmax: 64 })).toBe("sampledSoftmax is read only by vcm, vcm-se, vcm-od, vcm-nv, not by cdl; leave sampledSoftmax out for cdl");
    expect(refusal({ variant: "deepconn", sampledSoftmax: 64 })).toContain("not by deepconn");
    expect(refusal({ variant: "popularity", sampledSoftmax: 64 })).toContain("not by popularity");
    expect(refusal({ variant: "cvae", sampledProposal: "popularity" })).toContain("sampledProposal is read only by vcm");
    expect(refusal({ variant: "vcm", sampledProposal: "popularity" })).toBe(
      "sampledProposal chooses where sampledSoftmax draws its negatives; set sampledSoftmax too, or leave sampledProposal out",
    );
    expect(refusal({ variant: "vcm-od", sampledSoftmax: 64, sampledProposal: "popularity" })).toBe("accepted");
    expect(refusal({ variant: "cdl" })).toBe("accepted");
    expect(resolveVcmConfig({}).sampledSoftmax).toBeNull();
  });
});

describe("a model trained with a sampled softmax", () => {
  it("leaks no tensor across a sampled training step", async () => {
    await initBackend("wasm");
    const data = plantedData({ users: 40, items: 60, vocab: 30, groups: 2, seed: 3 });
    const sampledConfig = resolveVcmConfig({ latentDim: 3, hiddenX: 8, hiddenY: 6, sampledSoftmax: 10 });
    const params = initParams({ numItems: 60, numWords: 30, config: sampledConfig });
    const names = [...params.keys()];
    const adam = new Adam(names.map((n) => params.get(n)!.size), { learningRate: 1e-3, inPlace: names.map(updatableInPlace) });
    const rng = new Rng(1);
    const step = (rows: number[]) => trainStep({ params, names, adam, part: "vcm", beta: 0.1, rows, rng, train: data.train, words: data.words, config: sampledConfig });
    await step([0, 1, 2, 3]);
    const before = tf.memory().numTensors;
    const means = await step([4, 5, 6, 7]);
    expect(tf.memory().numTensors).toBe(before);
    expect(means.every(Number.isFinite)).toBe(true);
    adam.dispose();
    tf.dispose([...params.values()]);
  });

  it("answers from the full softmax over every item", async () => {
    await initBackend("wasm");
    // At most 98 items clicked by a batch of 10 users, + 8 draws: under half of 400, so every step samples the items.
    const data = plantedData({ users: 80, items: 400, vocab: 60, groups: 3, seed: 4 });
    const trained = resolveVcmConfig({ latentDim: 4, hiddenX: 12, hiddenY: 10, epochs: 2, batchSize: 10, sampledSoftmax: 8, sampledProposal: "popularity" });
    const model = await trainModel({ train: data.train, validation: data.validation, words: data.words, config: trained });
    try {
      const users = [0, 5, 17];
      const scores = await model.scoreItems({ matrix: data.train, rows: users }, "vcm");
      expect(scores.length).toBe(users.length * 400);
      const snapshot = await model.snapshot();
      const specs = paramSpecs({ numItems: 400, numWords: 60, config: trained });
      const expected = tf.tidy(() => {
        const params: Params = new Map(specs.map((s) => [s.name, tf.tensor(snapshot.weights.find((w) => w.name === s.name)!.values, [...s.shape])]));
        const { mu } = encode({ params, side: "x", input: sparseBatchTensors(sparseBatch({ matrix: data.train, rows: users }), 400) });
        return tf.softmax(decode({ params, side: "x", z: mu }));
      });
      const full = (await expected.data()) as Float32Array;
      expected.dispose();
      // Every item's probability under the dense decoder, each row summing to 1.
      scores.forEach((p, k) => expect(Math.abs(p - full[k])).toBeLessThan(1e-6));
      for (let r = 0; r < users.length; r += 1) expect(scores.subarray(r * 400, (r + 1) * 400).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(model.history.length).toBe(2);
      expect(model.history.every((h) => Number.isFinite(h.valNdcg100) && h.valNdcg100 > 0)).toBe(true);
    } finally {
      model.dispose();
    }
  });
});
