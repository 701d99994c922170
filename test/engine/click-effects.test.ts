/**
 * The click reasons on a model small enough to score by hand: VAEx with one hidden unit and one
 * latent dimension, four items, a user who clicked items 0, 1 and 2, and item 3 watched.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { explainByClicks, explainPair, buildItemWordStats } from "../../src/engine/explanation-rules.ts";
import type { Params } from "../../src/engine/models/params.ts";
import { clickDeletionEffects } from "../../src/engine/models/vcm/click-effects.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";

/**
 * x̂ = x / ‖x‖, a = x̂ · (1, 0.5, −0.5, 0), h = tanh(a), μ = h, h₂ = tanh(μ), logits = h₂ · (0.5, 1, −1, 3):
 * - whole history {0, 1, 2}: a = 1/√3, π₃ = 0.545153;
 * - without 0: a = 0, h₂ = 0, uniform scores, π₃ = 0.25, δ = 1 − 0.25 / 0.545153 = 0.541413;
 * - without 1: a = 0.5/√2 = 0.353553, δ = 0.178045;
 * - without 2: a = 1.5/√2 = 1.060660, a larger h₂ raises π₃: δ = −0.194505.
 */
function handParams(): Params {
  const matrix = (rows: number, cols: number, values: number[]) => tf.tensor2d(values, [rows, cols]);
  return new Map<string, tf.Tensor>([
    ["x.enc.W", matrix(4, 1, [1, 0.5, -0.5, 0])],
    ["x.enc.b", tf.tensor1d([0])],
    ["x.mu.W", matrix(1, 1, [1])],
    ["x.mu.b", tf.tensor1d([0])],
    ["x.logvar.W", matrix(1, 1, [0])],
    ["x.logvar.b", tf.tensor1d([0])],
    ["x.dec.W", matrix(1, 1, [1])],
    ["x.dec.b", tf.tensor1d([0])],
    ["x.out.W", matrix(1, 4, [0.5, 1, -1, 3])],
    ["x.out.b", tf.tensor1d([0, 0, 0, 0])],
  ]);
}

describe("click reasons on hand-set weights", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("each click's effect is the relative fall of π_ui computed by hand, and the rule lists the falls, largest first", async () => {
    const params = handParams();
    const clicks = csrFromRows({ cols: 4, rows: [[[0, 1], [1, 1], [2, 1]]] });
    const before = tf.memory().numTensors;
    // Item 3 and item 0 of the same user share the history's forward passes.
    const [watched, clicked] = await clickDeletionEffects({ params, clicks, pairs: [{ row: 0, item: 3 }, { row: 0, item: 0 }] });
    expect(tf.memory().numTensors).toBe(before);
    expect(watched[0]).toBeCloseTo(0.541413, 5);
    expect(watched[1]).toBeCloseTo(0.178045, 5);
    expect(watched[2]).toBeCloseTo(-0.194505, 5);
    // Item 0 without click 0: h₂ = 0 and uniform scores, 0.25, above its 0.165 with it, so δ(0) < 0 for item 0.
    const uniform = 0.25;
    const h2 = Math.tanh(Math.tanh(1 / Math.sqrt(3)));
    const logits = [0.5, 1, -1, 3].map((w) => w * h2);
    const z = logits.reduce((s, l) => s + Math.exp(l), 0);
    expect(clicked[0]).toBeCloseTo(1 - uniform / (Math.exp(logits[0]) / z), 5);
    expect(clicked[0]).toBeCloseTo(-0.515986, 5);

    // The rule: the clicks whose removal lowers the score, largest effect first, at most k.
    const effects = { clicks: clicks.indices, effects: watched };
    expect(explainByClicks({ ...effects, k: 5 }).map((c) => c.item)).toEqual([0, 1]);
    expect(explainByClicks({ ...effects, k: 1 })).toEqual([{ item: 0, effect: watched[0] }]);
    for (const t of params.values()) t.dispose();
  });
});

  it("a call of many users, split into several equal forward passes, gives each user the hand-computed falls", async () => {
    const params = handParams();
    // 700 users with the same history: 4 rows each, 2,800 rows in all, so several passes of up to 640 rows.
    const users = 700;
    const clicks = csrFromRows({ cols: 4, rows: Array.from({ length: users }, () => [[0, 1], [1, 1], [2, 1]] as Array<[number, number]>) });
    const before = tf.memory().numTensors;
    const effects = await clickDeletionEffects({ params, clicks, pairs: Array.from({ length: users }, (_, row) => ({ row, item: 3 })) });
    expect(tf.memory().numTensors).toBe(before);
    expect(effects).toHaveLength(users);
    for (const e of effects) {
      expect(e[0]).toBeCloseTo(0.541413, 5);
      expect(e[1]).toBeCloseTo(0.178045, 5);
      expect(e[2]).toBeCloseTo(-0.194505, 5);
    }
    for (const t of params.values()) t.dispose();
  });

describe("explainByClicks", () => {
  it("drops clicks that would raise the score, breaks ties by the lower item and keeps k", () => {
    const clicks = Int32Array.from([3, 7, 9, 12, 15]);
    const effects = Float32Array.from([0.25, -0.1, 0.25, 0.5, 0]);
    expect(explainByClicks({ clicks, effects, k: 10 })).toEqual([
      { item: 12, effect: 0.5 },
      { item: 3, effect: 0.25 },
      { item: 9, effect: 0.25 },
    ]);
    expect(explainByClicks({ clicks, effects, k: 2 }).map((c) => c.item)).toEqual([12, 3]);
    expect(explainByClicks({ clicks: [], effects: [], k: 3 })).toEqual([]);
  });

  it("comes with every word rule's explanation, unchanged by the rule, and is empty without click effects", () => {
    const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: 3, rows: [[[0, 4], [1, 1]], []] }), smoothing: 2 });
    const userWords = [0.5, 0.3, 0.2];
    const userTopWords = () => Int32Array.from([0, 1, 2]);
    const clickEffects = { clicks: Int32Array.from([1]), effects: Float32Array.from([0.4]) };
    for (const rule of ["effect", "evidence", "lift"] as const) {
      for (const item of [0, 1]) {
        const explanation = explainPair({ stats, userWords, userTopWords, item, k: 2, rule, clickEffects });
        expect(explanation.clicks).toEqual([{ item: 1, effect: clickEffects.effects[0] }]);
        const wordsOnly = explainPair({ stats, userWords, userTopWords, item, k: 2, rule });
        expect(wordsOnly.clicks).toEqual([]);
        expect(wordsOnly.words).toEqual(explanation.words);
      }
    }
  });
});
