/**
 * The click reasons on a model small enough to score by hand: VAEx with one hidden unit and one
 * latent dimension, four items, a user who clicked items 0, 1 and 2, and item 3 watched.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { clickReasonOf, explainByClicks, explainPair, buildItemWordStats, ranksOf } from "../../src/engine/explanation-rules.ts";
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

    // The rule: of the clicks whose removal lowers the score (0: 0.541, 1: 0.178; sum 0.719), the fewest,
    // largest first, covering half the sum: click 0 alone (0.541 ≥ 0.360). The first rule listed both.
    const effects = { clicks: clicks.indices, effects: watched };
    expect(explainByClicks({ ...effects, k: 5 })).toEqual([{ item: 0, effect: watched[0] }]);
    expect(explainByClicks({ ...effects, k: 5, coverage: 1 }).map((c) => c.item)).toEqual([0, 1]);
    // Item 3 scores 0.545153 with the history and 0.25 with none (a = 0: uniform): Δ = 1 − 0.25 / 0.545153.
    const reason = clickReasonOf({ clicks: explainByClicks({ ...effects, k: 5 }), history: { score: 0.545153, priorScore: 0.25, priorRank: 1 } });
    expect(reason.kind).toBe("clicks");
    expect(reason.historyEffect).toBeCloseTo(0.541413, 5);
    for (const t of params.values()) t.dispose();
  });

  it("a user whose one click raises nothing gets the popularity kind: the item scores higher for a user with no clicks", async () => {
    const params = handParams();
    // History {1}: a = 0.5, π₀ = 0.175208; without click 1 the history is empty (uniform, π₀ = 0.25), so
    // δ(1) = Δ = 1 − 0.25 / 0.175208 = −0.426873: no click is listed, and the item is not the history's doing.
    const clicks = csrFromRows({ cols: 4, rows: [[[1, 1]]] });
    const [watched] = await clickDeletionEffects({ params, clicks, pairs: [{ row: 0, item: 0 }] });
    expect(watched[0]).toBeCloseTo(-0.426873, 5);
    const listed = explainByClicks({ clicks: clicks.indices, effects: watched, k: 5 });
    expect(listed).toEqual([]);
    // Every item scores 0.25 with an empty history; ties rank by the lower column first, so item 0 is first.
    const prior = [0.25, 0.25, 0.25, 0.25];
    expect(Array.from(ranksOf(prior))).toEqual([1, 2, 3, 4]);
    const reason = clickReasonOf({ clicks: listed, history: { score: 0.175208, priorScore: prior[0], priorRank: ranksOf(prior)[0] } });
    expect(reason).toEqual({ kind: "popularity", historyEffect: expect.closeTo(-0.426873, 5), priorRank: 1 });
    expect(reason.historyEffect).toBeCloseTo(watched[0], 5);
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
    expect(explainByClicks({ clicks, effects, k: 10, coverage: 1 })).toEqual([
      { item: 12, effect: 0.5 },
      { item: 3, effect: 0.25 },
      { item: 9, effect: 0.25 },
    ]);
    expect(explainByClicks({ clicks, effects, k: 2, coverage: 1 }).map((c) => c.item)).toEqual([12, 3]);
    expect(explainByClicks({ clicks: [], effects: [], k: 3 })).toEqual([]);
  });

  it("lists the fewest clicks, largest first, whose effects cover half the sum of the positive ones", () => {
    // Positive effects 0.3 + 0.25 + 0.2 + 0.05 = 0.8, half 0.4: 0.3 falls short, 0.3 + 0.25 = 0.55 covers it.
    const clicks = Int32Array.from([1, 2, 3, 4, 5]);
    const effects = Float64Array.from([0.05, 0.25, -0.1, 0.3, 0.2]);
    expect(explainByClicks({ clicks, effects, k: 5 })).toEqual([
      { item: 4, effect: 0.3 },
      { item: 2, effect: 0.25 },
    ]);
    expect(explainByClicks({ clicks, effects, k: 1 })).toEqual([{ item: 4, effect: 0.3 }]);
    // Covering 0.75 of 0.8 = 0.6 takes a third click (0.75); covering all of it takes the four positive ones.
    expect(explainByClicks({ clicks, effects, k: 5, coverage: 0.75 }).map((c) => c.item)).toEqual([4, 2, 5]);
    expect(explainByClicks({ clicks, effects, k: 5, coverage: 1 }).map((c) => c.item)).toEqual([4, 2, 5, 1]);
    // One dominant click covers half alone.
    expect(explainByClicks({ clicks, effects: Float64Array.from([0.05, 0.01, 0, 0.9, 0.02]), k: 5 })).toEqual([{ item: 4, effect: 0.9 }]);
  });

  it("says what the whole history does when no click alone lowers the score: history above an empty one's, else popularity", () => {
    // No click listed; with the history the item scores 0.2, with none 0.1: Δ = 1 − 0.1 / 0.2 = 0.5 > 0.
    expect(clickReasonOf({ clicks: [], history: { score: 0.2, priorScore: 0.1, priorRank: 40 } })).toEqual({ kind: "history", historyEffect: 0.5, priorRank: 40 });
    // With none it scores 0.25 ≥ 0.2: Δ = 1 − 0.25 / 0.2 = −0.25, the item stands as high for anyone.
    expect(clickReasonOf({ clicks: [], history: { score: 0.2, priorScore: 0.25, priorRank: 3 } })).toEqual({ kind: "popularity", historyEffect: -0.25, priorRank: 3 });
    // A listed click decides the kind whatever the whole history does.
    expect(clickReasonOf({ clicks: [{ item: 1, effect: 0.1 }], history: { score: 0.2, priorScore: 0.25, priorRank: 3 } }).kind).toBe("clicks");
    // ranksOf: largest score first, ties by the lower column.
    expect(Array.from(ranksOf([0.1, 0.4, 0.1, 0.3]))).toEqual([3, 1, 4, 2]);
  });

  it("comes with every word rule's explanation, unchanged by the rule, and is empty without click effects", () => {
    const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: 3, rows: [[[0, 4], [1, 1]], []] }), smoothing: 2 });
    const userWords = [0.5, 0.3, 0.2];
    const userTopWords = () => Int32Array.from([0, 1, 2]);
    const clickEffects = { clicks: Int32Array.from([1]), effects: Float32Array.from([0.4]) };
    for (const rule of ["effect", "evidence", "lift"] as const) {
      for (const item of [0, 1]) {
        const history = { score: 0.2, priorScore: 0.15, priorRank: 7 };
        const explanation = explainPair({ stats, userWords, userTopWords, item, k: 2, rule, clickEffects, history });
        expect(explanation.clicks).toEqual([{ item: 1, effect: clickEffects.effects[0] }]);
        expect(explanation.clickReason).toEqual({ kind: "clicks", historyEffect: expect.closeTo(0.25, 10), priorRank: 7 });
        // A user without clicks has no click reason of any kind.
        expect(explainPair({ stats, userWords, userTopWords, item, k: 2, rule, clickEffects: { clicks: [], effects: [] }, history }).clickReason).toBeUndefined();
        const wordsOnly = explainPair({ stats, userWords, userTopWords, item, k: 2, rule });
        expect(wordsOnly.clicks).toEqual([]);
        expect(wordsOnly.words).toEqual(explanation.words);
      }
    }
  });
});
