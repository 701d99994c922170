import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it, vi } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { VcmModel } from "../../src/engine/models/vcm/model.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createPredictionServices, type PredictionServiceSet } from "../../src/services/prediction-services.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createTestDatabase } from "../db/databases.ts";

/** A database of its own with the generated dataset "d" and a small VCM model trained on it, for one test; done() closes every service made by services() and removes it all. */
async function smallTrainedModel(o: { prefix: string; dataSeed: number; trainSeed: number }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), o.prefix));
  const database = await createTestDatabase();
  const dataSource = await openDatabase(database.target);
  const modelsDir = path.join(dir, "models");
  const made: PredictionServiceSet[] = [];
  const done = async (): Promise<void> => {
    for (const set of made) await set.close();
    await dataSource.destroy();
    await database.drop();
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await ingestDataset(dataSource, { name: "d", source: syntheticSource({ users: 150, items: 120, vocab: 200, seed: o.dataSeed }) });
    const config = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 5, batchSize: 50, annealSteps: 20, seed: o.trainSeed };
    const { model } = await trainAndSave({ dataSource, dataset: "d", variant: "vcm", config, modelsDir });
    const services = (): PredictionServiceSet => {
      const set = createPredictionServices({ dataSource, config: { dbPath: database.target, modelsDir } });
      made.push(set);
      return set;
    };
    return { model, services, done };
  } catch (error) {
    await done();
    throw error;
  }
}

describe("click reasons on a small trained model", () => {
  it("deleting the top click lowers the item's VCM score by the stated effect, exactly the forward pass's number", async () => {
    const small = await smallTrainedModel({ prefix: "vcm-explain-clicks-", dataSeed: 1, trainSeed: 2 });
    const { model } = small;
    const services = small.services();
    try {
      const { loaded, dataset } = await services.inference.modelWithDataset(model.id);
      const { train } = dataset.matrices;
      const users = [0, 7, 21, 42, 99, 120];
      const rankings = await services.inference.recommendMany(users.map((row) => ({ modelId: model.id, source: "CLICKS" as const, row, k: 3, excludeSeen: true })));
      const pairs = users.flatMap((row, b) => (rankings[b] as Array<{ item: number }>).map((r) => ({ row, item: r.item })));
      const reasonSpy = vi.spyOn(VcmModel.prototype, "reasonEffects");
      const explanations = await services.inference.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 3 })));
      // One engine call for every pair of every user, the word deletions of the effect rule in the same call.
      expect(reasonSpy).toHaveBeenCalledTimes(1);
      expect(reasonSpy.mock.calls[0][0].clickPairs).toHaveLength(pairs.length);
      expect(reasonSpy.mock.calls[0][0].wordRequests.length).toBeGreaterThan(0);
      reasonSpy.mockRestore();
      // Each pair's history with its top click deleted, scored by the model from clicks.
      const histories: Array<Array<[number, number]>> = [];
      pairs.forEach((pair, j) => {
        const explanation = explanations[j];
        if (explanation instanceof Error) throw explanation;
        expect(explanation.clicks.length).toBeGreaterThan(0);
        expect(explanation.clicks.length).toBeLessThanOrEqual(3);
        const history = Array.from(train.indices.subarray(train.indptr[pair.row], train.indptr[pair.row + 1]));
        for (const c of explanation.clicks) expect(history).toContain(c.item);
        const effects = explanation.clicks.map((c) => c.effect);
        expect([...effects].sort((a, b) => b - a)).toEqual(effects);
        histories.push(history.map((i): [number, number] => [i, 1]));
        histories.push(history.filter((i) => i !== explanation.clicks[0].item).map((i): [number, number] => [i, 1]));
      });
      const scores = await loaded.model.scoreItems({ matrix: csrFromRows({ cols: train.cols, rows: histories }), rows: histories.map((_, i) => i) }, "vcm");
      const items = loaded.model.numItems;
      pairs.forEach((pair, j) => {
        const explanation = explanations[j] as Exclude<(typeof explanations)[number], Error>;
        const full = scores[2 * j * items + pair.item];
        const without = scores[(2 * j + 1) * items + pair.item];
        expect(without).toBeLessThan(full);
        expect(explanation.clicks[0].effect).toBeCloseTo(1 - without / full, 5);
      });
      // Each pair's kind of click reason: its item scored with the whole history (above) and with none.
      const prior = await loaded.model.scoreItems({ matrix: csrFromRows({ cols: train.cols, rows: [[]] }), rows: [0] }, "vcm");
      const every = await loaded.model.clickEffects({ clicks: train, pairs });
      pairs.forEach((pair, j) => {
        const explanation = explanations[j] as Exclude<(typeof explanations)[number], Error>;
        const full = scores[2 * j * items + pair.item];
        const reason = explanation.clickReason!;
        expect(reason.kind).toBe("clicks");
        expect(reason.historyEffect).toBeCloseTo(1 - prior[pair.item] / full, 5);
        const above = Array.from(prior).filter((p, i) => p > prior[pair.item] || (p === prior[pair.item] && i < pair.item)).length;
        expect(reason.priorRank).toBe(above + 1);
        // The listed clicks are the shortest head of the positive effects that covers half their sum (or k of them).
        const positive = Array.from(every[j]).filter((e) => e > 0);
        const total = positive.reduce((a, b) => a + b, 0);
        const listed = explanation.clicks.map((c) => c.effect);
        const covered = listed.reduce((a, b) => a + b, 0);
        if (listed.length < 3) expect(covered).toBeGreaterThanOrEqual(0.5 * total - 1e-9);
        expect(covered - listed[listed.length - 1]).toBeLessThan(0.5 * total);
      });
      // The same effects straight from the engine, for every click of the history.
      const direct = await loaded.model.clickEffects({ clicks: train, pairs: pairs.slice(0, 1) });
      const first = explanations[0] as Exclude<(typeof explanations)[number], Error>;
      const history = Array.from(train.indices.subarray(train.indptr[pairs[0].row], train.indptr[pairs[0].row + 1]));
      expect(direct[0][history.indexOf(first.clicks[0].item)]).toBe(first.clicks[0].effect);
      expect(Math.max(...direct[0])).toBe(first.clicks[0].effect);
    } finally {
      await small.done();
    }
  });
});

describe("the effect rule on a small trained model", () => {
  it("lists only words of the user's bag whose deletion lowers the item's review2click score", async () => {
    const small = await smallTrainedModel({ prefix: "vcm-explain-", dataSeed: 1, trainSeed: 2 });
    const { model } = small;
    const services = small.services();
    try {
      const { loaded, dataset } = await services.inference.modelWithDataset(model.id);
      const { words } = dataset.matrices;
      const stats = await services.inference.itemWordStats(loaded.datasetId);
      const users = [0, 7, 21, 42, 99, 120];
      const rankings = await services.inference.recommendMany(users.map((row) => ({ modelId: model.id, source: "CLICKS" as const, row, k: 3, excludeSeen: true })));
      const pairs = users.flatMap((row, b) => (rankings[b] as Array<{ item: number }>).map((r) => ({ row, item: r.item })));

      // The engine's first-order effects: the model keeps one tensor from the first call (W_outᵀ, whose
      // rows are the items' columns), no call leaves any other behind, and each bag's effects sum to 0
      // (log π_ui does not change when the whole bag is scaled, the bag being normalised).
      const before = tf.memory().numTensors;
      const firstOrder = await loaded.model.wordEffects({ words, pairs });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(await loaded.model.wordEffects({ words, pairs })).toEqual(firstOrder);
      expect(tf.memory().numTensors).toBe(before + 1);
      for (const e of firstOrder) expect(Math.abs(e.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);

      const explanations = await services.inference.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 5 })));
      // Each listed word, deleted alone from the user's bag, and scored by the model.
      const bags: Array<Array<[number, number]>> = [];
      const probes: Array<{ pair: number; effect: number }> = [];
      pairs.forEach((pair, j) => {
        const explanation = explanations[j];
        if (explanation instanceof Error) throw explanation;
        expect(explanation.rule).toBe("effect");
        const start = words.indptr[pair.row];
        const bag = Array.from(words.indices.subarray(start, words.indptr[pair.row + 1]), (w, t): [number, number] => [w, words.values[start + t]]);
        bags.push(bag);
        for (const w of explanation.words) {
          expect(bag.map(([v]) => v)).toContain(w.wordIndex);
          expect(w.lift).toBeGreaterThan(1);
          expect(w.effect).toBeGreaterThan(0);
          expect(stats.itemTotals[pair.item]).toBeGreaterThan(0);
          probes.push({ pair: j, effect: w.effect! });
          bags.push(bag.filter(([v]) => v !== w.wordIndex));
        }
      });
      expect(probes.length).toBeGreaterThan(pairs.length);
      const scores = await loaded.model.scoreItems({ matrix: csrFromRows({ cols: words.cols, rows: bags }), rows: bags.map((_, i) => i) }, "vcm-cd");
      const items = loaded.model.numItems;
      let row = 0;
      pairs.forEach((pair, j) => {
        const full = scores[row * items + pair.item];
        row += 1;
        for (const probe of probes.filter((p) => p.pair === j)) {
          const without = scores[row * items + pair.item];
          expect(without).toBeLessThan(full);
          // The listed effect is that relative fall.
          expect(probe.effect).toBeCloseTo(1 - without / full, 4);
          row += 1;
        }
      });

      // Asked again, the same explanations come from the model's recent answers, without an engine call.
      // Queries that arrive together share the effect passes: on services whose model holds no recent
      // answers, one engine call each for three callers, with the same answers as each caller alone.
      const firstSpy = vi.spyOn(VcmModel.prototype, "wordEffects");
      const exactSpy = vi.spyOn(VcmModel.prototype, "reasonEffects");
      const fresh = small.services();
      try {
        const repeated = await services.inference.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 5 })));
        expect(firstSpy).not.toHaveBeenCalled();
        expect(exactSpy).not.toHaveBeenCalled();
        expect(repeated).toEqual(explanations);
        // Another k for the same pairs is its own answer: computed (from the kept effects), not the first one's.
        const fewer = await services.inference.explainMany(pairs.map((p) => ({ modelId: model.id, ...p, k: 2 })));
        fewer.forEach((e, j) => {
          const full = explanations[j];
          if (e instanceof Error || full instanceof Error) throw e instanceof Error ? e : full;
          expect(e.rule).toBe("effect");
          expect(e.words.length).toBeLessThanOrEqual(2);
          for (const w of e.words) expect(w.effect).toBeGreaterThan(0);
        });
        firstSpy.mockClear();
        exactSpy.mockClear();
        const perUser = users.slice(0, 3).map((row) => pairs.filter((p) => p.row === row).map((p) => ({ modelId: model.id, ...p, k: 5 })));
        const together = await Promise.all(perUser.map((requests) => fresh.inference.explainMany(requests)));
        expect(firstSpy).toHaveBeenCalledTimes(1);
        expect(exactSpy).toHaveBeenCalledTimes(1);
        expect(firstSpy.mock.calls[0][0].pairs).toHaveLength(perUser.flat().length);
        const alone = explanations.slice(0, perUser.flat().length);
        together.flat().forEach((e, j) => {
          const a = alone[j];
          if (e instanceof Error || a instanceof Error) throw e instanceof Error ? e : a;
          expect(e.words.map((w) => w.wordIndex)).toEqual(a.words.map((w) => w.wordIndex));
          e.words.forEach((w, t) => expect(w.effect).toBeCloseTo(a.words[t].effect!, 5));
        });
      } finally {
        firstSpy.mockRestore();
        exactSpy.mockRestore();
      }
    } finally {
      await small.done();
    }
  });
});

describe("explanations of concurrent requests, batched", () => {
  it("equal each user's explanation asked alone, words and clicks, with both kinds of deletion in one engine call", async () => {
    const small = await smallTrainedModel({ prefix: "vcm-explain-batched-", dataSeed: 3, trainSeed: 4 });
    const { model } = small;
    const services = small.services();
    const together = small.services();
    const reasonSpy = vi.spyOn(VcmModel.prototype, "reasonEffects");
    try {
      const { loaded, dataset } = await services.inference.modelWithDataset(model.id);
      const { train, words } = dataset.matrices;
      const users = [2, 15, 33, 64, 87, 131];
      const rankings = await services.inference.recommendMany(users.map((row) => ({ modelId: model.id, source: "CLICKS" as const, row, k: 4, excludeSeen: true })));
      const perUser = users.map((row, b) => (rankings[b] as Array<{ item: number }>).map((r) => ({ modelId: model.id, row, item: r.item, k: 5 })));

      // The engine: both kinds in one call give what each kind gives in a call of its own.
      const pairs = perUser.flat();
      const wordRequests = pairs.map((p) => ({ row: p.row, item: p.item, words: words.indices.slice(words.indptr[p.row], words.indptr[p.row + 1]) }));
      const both = await loaded.model.reasonEffects({ clicks: train, words, clickPairs: pairs, wordRequests });
      const clicksAlone = await loaded.model.clickEffects({ clicks: train, pairs });
      const wordsAlone = await loaded.model.deletionEffects({ words, requests: wordRequests });
      expect(both.clicks).toHaveLength(pairs.length);
      expect(both.words).toHaveLength(pairs.length);
      pairs.forEach((_, j) => {
        expect(both.clicks[j].length).toBeGreaterThan(0);
        expect(both.words[j].length).toBeGreaterThan(0);
        both.clicks[j].forEach((e, t) => expect(e).toBeCloseTo(clicksAlone[j][t], 6));
        both.words[j].forEach((e, t) => expect(e).toBeCloseTo(wordsAlone[j][t], 6));
      });

      // The service: one user at a time, then every user at once on services that hold no recent answers.
      const alone: Array<Awaited<ReturnType<typeof services.inference.explainMany>>> = [];
      for (const requests of perUser) alone.push(await services.inference.explainMany(requests));
      reasonSpy.mockClear();
      const batched = await Promise.all(perUser.map((requests) => together.inference.explainMany(requests)));
      // One engine call for the click and word deletions of every user.
      expect(reasonSpy).toHaveBeenCalledTimes(1);
      expect(reasonSpy.mock.calls[0][0].clickPairs).toHaveLength(pairs.length);
      let clicksListed = 0;
      let wordsListed = 0;
      batched.forEach((answers, b) =>
        answers.forEach((e, j) => {
          const a = alone[b][j];
          if (e instanceof Error || a instanceof Error) throw e instanceof Error ? e : a;
          expect(e.words.map((w) => w.wordIndex)).toEqual(a.words.map((w) => w.wordIndex));
          e.words.forEach((w, t) => expect(w.effect).toBeCloseTo(a.words[t].effect!, 6));
          expect(e.clicks.map((c) => c.item)).toEqual(a.clicks.map((c) => c.item));
          e.clicks.forEach((c, t) => expect(c.effect).toBeCloseTo(a.clicks[t].effect, 6));
          clicksListed += e.clicks.length;
          wordsListed += e.words.length;
        }),
      );
      expect(clicksListed).toBeGreaterThan(pairs.length);
      expect(wordsListed).toBeGreaterThan(pairs.length);
    } finally {
      reasonSpy.mockRestore();
      await small.done();
    }
  });
});
