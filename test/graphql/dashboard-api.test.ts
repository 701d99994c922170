/**
 * The API the dashboard's views read (issue 30), through a real server over a real database with
 * models trained in the test: compareModels against the engine's paired t-test on a fresh evaluation,
 * characteristicWords against a hand count, Experiment.figures against what the report writes, and
 * recommendedTo against the users' own recommendations and explanations.
 */
import fs from "node:fs";
import path from "node:path";
import * as vega from "vega";
import * as vl from "vega-lite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Experiment } from "../../src/db/entities/experiment.entity.ts";
import { resolveExperimentArgs, runExperiment } from "../../src/services/experiment.ts";
import { stopWordSet, tokenize } from "../../src/data/tokenizer.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { appendRecords } from "../../src/services/append.ts";
import { pairedTTest } from "../../src/engine/stats.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { evaluateSavedModel } from "../../src/services/model-evaluation.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, insertTrainedModel, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 10, seed: 3 };

let fixture: ApiFixture;
let vcmId: number;
let seId: number;
let otherDatasetModelId: number;
let datasetId: number;

async function gql(query: string, variables: Record<string, unknown> = {}): Promise<{ data?: any; errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> }> {
  return fixture.server.execute({ query, variables }) as never;
}

beforeAll(async () => {
  fixture = await createApiFixture();
  const { dataSource, config } = fixture;
  const train = async (variant: string, dataset = TEST_DATASET) => (await trainAndSave({ dataSource, dataset, variant, config: SMALL, modelsDir: config.modelsDir })).model;
  const vcm = await train("vcm");
  vcmId = vcm.id;
  datasetId = vcm.datasetId;
  seId = (await train("vcm-se")).id;
  await ingestDataset(dataSource, { name: "other", source: syntheticSource({ users: 40, items: 30, vocab: 100, seed: 2 }) });
  otherDatasetModelId = (await trainAndSave({ dataSource, dataset: "other", variant: "popularity", modelsDir: config.modelsDir })).model.id;
  // A tiny dataset whose words are counted by hand below, with an item appended without any text.
  await ingestDataset(dataSource, { name: "tiny", source: syntheticSource({ users: 10, items: 20, vocab: 100, seed: 5 }) });
  expect((await appendRecords(dataSource, { dataset: "tiny", records: [{ user: "newcomer", item: "silent-item", rating: null, text: null }] })).itemsAdded).toBe(1);
});

afterAll(async () => {
  // Every error these tests provoke is a user error: nothing was masked as internal.
  expect(fixture?.logger.entries.map((e) => e.message) ?? []).toEqual([]);
  await fixture?.close();
});

describe("compareModels", () => {
  const QUERY = `query ($a: ID!, $b: ID!) {
    compareModels(modelId: $a, compareTo: $b) {
      model { id variant } compared { id variant } users
      metrics { metric meanModel meanCompared difference statistic pValue df }
    }
  }`;

  it("gives each metric's means and the engine's paired t-test of model − compared over the same test users", async () => {
    const result = await gql(QUERY, { a: vcmId, b: seId });
    expect(result.errors).toBeUndefined();
    const answer = result.data.compareModels;
    expect(answer.model).toEqual({ id: String(vcmId), variant: "vcm" });
    expect(answer.compared).toEqual({ id: String(seId), variant: "vcm-se" });
    // An independent evaluation: the saved models ranked afresh (what `vcm compare` reads).
    const [own, other] = [await evaluateSavedModel({ dataSource: fixture.dataSource, modelId: vcmId }), await evaluateSavedModel({ dataSource: fixture.dataSource, modelId: seId })];
    expect(answer.metrics.map((m: { metric: string }) => m.metric)).toEqual(["ndcg@10", "ndcg@100", "recall@20", "recall@50"]);
    for (const m of answer.metrics) {
      const test = pairedTTest({ a: own.ranking.perUser[m.metric], b: other.ranking.perUser[m.metric] });
      expect(answer.users).toBe(test.users);
      expect(m.meanModel).toBeCloseTo(test.meanA, 10);
      expect(m.meanCompared).toBeCloseTo(test.meanB, 10);
      expect(m.difference).toBeCloseTo(test.meanA - test.meanB, 10);
      expect(m.statistic).toBeCloseTo(test.statistic, 8);
      expect(m.pValue).toBeCloseTo(test.pValue, 10);
      expect(m.df).toBe(test.users - 1);
    }
    expect(answer.users).toBe(own.users);
    expect(answer.users).toBeGreaterThan(10);
    // The other way round: the same users, the difference and t change sign, p stays.
    const reversed = (await gql(QUERY, { a: seId, b: vcmId })).data.compareModels;
    reversed.metrics.forEach((m: { difference: number; statistic: number; pValue: number }, i: number) => {
      expect(m.difference).toBeCloseTo(-answer.metrics[i].difference, 12);
      expect(m.statistic).toBeCloseTo(-answer.metrics[i].statistic, 8);
      expect(m.pValue).toBeCloseTo(answer.metrics[i].pValue, 12);
    });
  });

  it("refuses an unknown model (NOT_FOUND), the same model twice, a model that is not READY and models of two datasets (BAD_USER_INPUT)", async () => {
    const training = await insertTrainedModel(fixture.dataSource, { datasetId, status: "training" });
    const failed = await insertTrainedModel(fixture.dataSource, { datasetId, status: "failed", error: "It ran out of memory." });
    const cases: Array<[unknown, unknown, string, RegExp]> = [
      [vcmId, 999_999, "NOT_FOUND", /No trained model has id 999999/],
      [999_998, vcmId, "NOT_FOUND", /No trained model has id 999998/],
      [vcmId, vcmId, "BAD_USER_INPUT", /both name model/],
      [vcmId, training.id, "BAD_USER_INPUT", new RegExp(`Model ${training.id} is training, not READY`)],
      [failed.id, vcmId, "BAD_USER_INPUT", new RegExp(`Model ${failed.id} is failed, not READY`)],
      [vcmId, otherDatasetModelId, "BAD_USER_INPUT", /trained on dataset "demo-small" and model \d+ on "other"; a paired test needs the same users/],
    ];
    for (const [a, b, code, message] of cases) {
      const result = await gql(QUERY, { a, b });
      expect(result.errors?.[0]?.extensions?.code).toBe(code);
      expect(result.errors?.[0]?.message).toMatch(message);
    }
  });
});

describe("Item.characteristicWords", () => {
  /**
   * Each item's words by lift, counted by hand from the review texts: P(w|i) = (c + 50·P(w)) / (n + 50),
   * P(w) = (C_w + 1) / (C + V). Within an item the lift grows with c / (C_w + 1), so the words are ordered
   * exactly by that ratio in integers (c₁·(C₂ + 1) against c₂·(C₁ + 1)), then by count, then by vocabulary.
   */
  async function handCounted(): Promise<{ itemIds: ReadonlyArray<string>; byItem: Array<Array<{ word: string; lift: number; count: number }>> }> {
    const matrices = await loadDatasetMatrices(fixture.dataSource, "tiny");
    const vocabulary = new Map(matrices.vocabulary.map((w, i) => [w, i]));
    const reviews = await sqlOf(fixture.dataSource).all<{ item: number; text: string }>(
      `SELECT i."column_index" AS "item", r."text" AS "text" FROM "reviews" r JOIN "items" i ON i."id" = r."item_id" WHERE r."dataset_id" = ?`,
      [matrices.datasetId],
    );
    const counts = matrices.itemIds.map(() => new Map<string, number>());
    const corpus = new Map<string, number>();
    let total = 0;
    for (const { item, text } of reviews) {
      for (const token of tokenize(text, stopWordSet())) {
        if (!vocabulary.has(token)) continue;
        counts[item].set(token, (counts[item].get(token) ?? 0) + 1);
        corpus.set(token, (corpus.get(token) ?? 0) + 1);
        total += 1;
      }
    }
    const corpusProbability = (w: string) => ((corpus.get(w) ?? 0) + 1) / (total + matrices.vocabulary.length);
    const byItem = counts.map((row) => {
      const n = [...row.values()].reduce((a, b) => a + b, 0);
      return [...row.entries()]
        .map(([word, count]) => ({ word, count, lift: (count + 50 * corpusProbability(word)) / (n + 50) / corpusProbability(word) }))
        .sort((a, b) => b.count * ((corpus.get(a.word) ?? 0) + 1) - a.count * ((corpus.get(b.word) ?? 0) + 1) || b.count - a.count || vocabulary.get(a.word)! - vocabulary.get(b.word)!);
    });
    return { itemIds: matrices.itemIds, byItem };
  }

  it("lists the words of the item's reviews by the explanations' lift, with their counts there, equal to a hand count", async () => {
    const { itemIds, byItem } = await handCounted();
    const QUERY = `query ($id: String!, $k: Int!) { item(dataset: "tiny", externalId: $id) { characteristicWords(k: $k) { word lift count } } }`;
    let withText = 0;
    for (const [column, externalId] of itemIds.entries()) {
      const all = await gql(QUERY, { id: externalId, k: 100 });
      expect(all.errors).toBeUndefined();
      const words = all.data.item.characteristicWords as Array<{ word: string; lift: number; count: number }>;
      const expected = byItem[column];
      expect(words.map((w) => [w.word, w.count])).toEqual(expected.map((w) => [w.word, w.count]));
      words.forEach((w, i) => expect(w.lift).toBeCloseTo(expected[i].lift, 10));
      if (expected.length > 0) {
        withText += 1;
        expect(words[0].lift).toBeGreaterThan(1);
        const three = (await gql(QUERY, { id: externalId, k: 3 })).data.item.characteristicWords;
        expect(three).toEqual(words.slice(0, 3));
      }
    }
    expect(withText).toBeGreaterThan(10);
    // The appended item has no review text, so no word.
    expect(byItem[itemIds.indexOf("silent-item")]).toEqual([]);
    expect((await gql(QUERY, { id: "silent-item", k: 10 })).data.item.characteristicWords).toEqual([]);
  });

  it("refuses k outside 1 to 100 with BAD_USER_INPUT", async () => {
    for (const k of [0, 101, -3]) {
      const result = await gql(`query ($k: Int!) { item(dataset: "tiny", externalId: "silent-item") { characteristicWords(k: $k) { word } } }`, { k });
      expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0]?.message).toBe(`k must be an integer from 1 to 100, got ${k}.`);
    }
  });
});

describe("Experiment.figures", () => {
  it("serves the report's figures with the very specs the report rendered, and nothing before there are results", async () => {
    const outDir = path.join(fixture.dir, "experiment");
    const args = resolveExperimentArgs({
      dataset: TEST_DATASET,
      models: ["vcm", "popularity"],
      seeds: 1,
      epochs: 2,
      config: { hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 },
      grid: { latentDim: [4, 8], beta: [0.2, 0.5] },
    });
    const { experimentId } = await runExperiment({ dataSource: fixture.dataSource, modelsDir: fixture.config.modelsDir, args, outDir });
    const result = await gql(`query ($id: ID!) { experiment(id: $id) { status results figures { name title spec } } }`, { id: experimentId });
    expect(result.errors).toBeUndefined();
    const { status, results, figures } = result.data.experiment;
    expect(status).toBe("FINISHED");
    // The tables stay as they were: the figures are a field of their own.
    expect(Object.keys(results)).toEqual(["settings", "vcm", "vcm-cd"]);
    expect(figures.map((f: { name: string }) => f.name)).toEqual(["figure4-vcm", "figure4-vcm-cd", "figure3-vcm", "figure2"]);
    for (const figure of figures as Array<{ name: string; title: string; spec: vl.TopLevelSpec }>) {
      expect(figure.title).toBe(figure.spec.title);
      // Rendered as the report renders (experiment-plots.ts writePlot), the spec gives the report's SVG byte for byte.
      const view = new vega.View(vega.parse(vl.compile(figure.spec).spec), { renderer: "none" });
      const svg = await view.toSVG();
      view.finalize();
      // Vega numbers gradients by a counter of the process: the one thing that differs between two renderings.
      const numbered = (text: string) => text.replaceAll(/gradient_\d+/g, "gradient_N");
      expect(numbered(svg), figure.name).toBe(numbered(fs.readFileSync(path.join(outDir, `${figure.name}.svg`), "utf8")));
    }
    // Figure 4's bars are the table's cells.
    const bars = (figures[0].spec.data as { values: Array<{ model: string; metric: string; cutoff: number; mean: number }> }).values;
    expect(bars.find((b) => b.model === "vcm" && b.metric === "NDCG@R" && b.cutoff === 10)?.mean).toBe(results.vcm.vcm["ndcg@10"].mean);
    expect(bars.find((b) => b.model === "popularity" && b.metric === "Recall@R" && b.cutoff === 50)?.mean).toBe(results.vcm.popularity["recall@50"].mean);

    // An experiment without results yet has no figure.
    const queued = await fixture.dataSource.getRepository(Experiment).save({ datasetId, key: "queued", args: {}, outDir: path.join(fixture.dir, "queued"), status: "queued", runsTotal: 2, results: null });
    const early = await gql(`query ($id: ID!) { experiment(id: $id) { results figures { name } } }`, { id: queued.id });
    expect(early.data.experiment).toEqual({ results: null, figures: [] });
  }, 120_000);
});
