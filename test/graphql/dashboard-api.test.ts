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
import { parse, type OperationDefinitionNode } from "graphql";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DEFAULT_HEAVY_GATE_LIMITS } from "../../src/graphql/heavy-gate.ts";
import { checkOperationLimits } from "../../src/graphql/query-limits.ts";
import { VcmModel } from "../../src/engine/models/vcm/model.ts";
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
let popularityId: number;
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
  popularityId = (await train("popularity")).id;
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

describe("Item.recommendedTo", () => {
  type Recommended = { user: string; row: number; rank: number; score: number };

  /** Every user's recommendations(k: 20), read through the API, grouped by item: the audiences by hand. */
  async function audiencesByHand(): Promise<Map<string, Recommended[]>> {
    const byItem = new Map<string, Recommended[]>();
    let after: string | null = null;
    let users = 0;
    for (;;) {
      const page: Awaited<ReturnType<typeof gql>> = await gql(
        `query ($m: ID!, $after: String) { dataset(name: "${TEST_DATASET}") { users(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id rowIndex recommendations(modelId: $m, k: 20) { rank score item { id } } } } } } }`,
        { m: vcmId, after },
      );
      expect(page.errors).toBeUndefined();
      const { edges, pageInfo } = page.data.dataset.users;
      for (const { node } of edges) {
        users += 1;
        for (const r of node.recommendations) {
          const list = byItem.get(r.item.id) ?? [];
          list.push({ user: node.id, row: node.rowIndex, rank: r.rank, score: r.score });
          byItem.set(r.item.id, list);
        }
      }
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(users).toBe(150);
    for (const list of byItem.values()) list.sort((a, b) => a.rank - b.rank || b.score - a.score || a.row - b.row);
    return byItem;
  }

  const AUDIENCE = `query ($item: ID!, $m: ID, $model: String, $k: Int!) {
    item(id: $item) {
      recommendedTo(modelId: $m, model: $model, k: $k) {
        users { user { id } rank score }
        candidates usersScored
        reasons { words { word users meanWeight } clicks { item { id } users meanEffect } unexplained }
      }
    }
  }`;

  it("lists the users whose recommendations(k: 20) hold the item, best rank first, with their explanations' reasons counted, from one ranking pass per model", async () => {
    const rankSpy = vi.spyOn(VcmModel.prototype, "rankItems");
    try {
      const byItem = await audiencesByHand();
      const [itemId, expected] = [...byItem].sort((a, b) => b[1].length - a[1].length)[0];
      expect(expected.length).toBeGreaterThan(12);
      const first = await gql(AUDIENCE, { item: itemId, m: vcmId, k: 100 });
      expect(first.errors).toBeUndefined();
      const passCalls = rankSpy.mock.calls.length;
      expect(passCalls).toBeGreaterThan(0);
      const audience = first.data.item.recommendedTo;
      expect(audience.candidates).toBe(expected.length);
      expect(audience.usersScored).toBe(150);
      expect(audience.users.map((u: { user: { id: string }; rank: number }) => [u.user.id, u.rank])).toEqual(expected.map((e) => [e.user, e.rank]));
      audience.users.forEach((u: { score: number }, i: number) => expect(u.score).toBeCloseTo(expected[i].score, 6));

      // The reasons of the first 8 listed users, counted from each user's own explanation of the item.
      const listed = await gql(AUDIENCE, { item: itemId, m: vcmId, k: 8 });
      const reasons = listed.data.item.recommendedTo.reasons;
      const words = new Map<string, { users: number; sum: number }>();
      const clicks = new Map<string, { users: number; sum: number }>();
      let unexplained = 0;
      for (const e of expected.slice(0, 8)) {
        const own = await gql(`query ($u: ID!, $m: ID!, $i: ID!) { user(id: $u) { explanation(modelId: $m, itemId: $i) { words { word weight } clicks { item { id } effect } } } }`, { u: e.user, m: vcmId, i: itemId });
        expect(own.errors).toBeUndefined();
        const explanation = own.data.user.explanation;
        if (explanation.words.length === 0 && explanation.clicks.length === 0) unexplained += 1;
        for (const w of explanation.words) words.set(w.word, { users: (words.get(w.word)?.users ?? 0) + 1, sum: (words.get(w.word)?.sum ?? 0) + w.weight });
        for (const c of explanation.clicks) clicks.set(c.item.id, { users: (clicks.get(c.item.id)?.users ?? 0) + 1, sum: (clicks.get(c.item.id)?.sum ?? 0) + c.effect });
      }
      expect(words.size + clicks.size).toBeGreaterThan(0);
      expect(reasons.unexplained).toBe(unexplained);
      expect(new Map(reasons.words.map((w: { word: string; users: number }) => [w.word, w.users]))).toEqual(new Map([...words].map(([w, t]) => [w, t.users])));
      expect(new Map(reasons.clicks.map((c: { item: { id: string }; users: number }) => [c.item.id, c.users]))).toEqual(new Map([...clicks].map(([id, t]) => [id, t.users])));
      for (const w of reasons.words) expect(w.meanWeight).toBeCloseTo(words.get(w.word)!.sum / w.users, 10);
      for (const c of reasons.clicks) expect(c.meanEffect).toBeCloseTo(clicks.get(c.item.id)!.sum / c.users, 10);
      // Most users first.
      const counts = reasons.words.map((w: { users: number }) => w.users);
      expect(counts).toEqual([...counts].sort((a: number, b: number) => b - a));

      // Another item, and the model named by `model`: the same pass, no new ranking.
      const [otherId, otherExpected] = [...byItem].sort((a, b) => b[1].length - a[1].length)[1];
      const other = await gql(AUDIENCE, { item: otherId, model: String(vcmId), k: 3 });
      expect(other.errors).toBeUndefined();
      expect(other.data.item.recommendedTo.users.map((u: { user: { id: string } }) => u.user.id)).toEqual(otherExpected.slice(0, 3).map((e) => e.user));
      expect(rankSpy.mock.calls.length).toBe(passCalls);
    } finally {
      rankSpy.mockRestore();
    }
  }, 120_000);

  it("refuses both or neither model argument, a model of another dataset and k outside 1 to 100 (BAD_USER_INPUT), an unknown model (NOT_FOUND)", async () => {
    const item = (await gql(`{ dataset(name: "${TEST_DATASET}") { items(first: 1) { edges { node { id } } } } }`)).data.dataset.items.edges[0].node.id;
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ m: vcmId, model: String(vcmId), k: 5 }, "BAD_USER_INPUT", /exactly one of the two/],
      [{ k: 5 }, "BAD_USER_INPUT", /exactly one of the two/],
      [{ m: otherDatasetModelId, k: 5 }, "BAD_USER_INPUT", /pick a model of the item's dataset/],
      [{ m: popularityId, k: 5 }, "BAD_USER_INPUT", /decodes no words from clicks; choose a VCM model/],
      [{ m: vcmId, k: 0 }, "BAD_USER_INPUT", /^k must be an integer from 1 to 100, got 0\.$/],
      [{ m: vcmId, k: 101 }, "BAD_USER_INPUT", /^k must be an integer from 1 to 100, got 101\.$/],
      [{ m: 999_997, k: 5 }, "NOT_FOUND", /999997/],
    ];
    // The model list says beforehand which models decode words (the dashboard's default model is the newest that does).
    const listed = (await gql(`{ models(dataset: "${TEST_DATASET}") { id decodesWords } }`)).data.models as Array<{ id: string; decodesWords: boolean }>;
    expect(listed.find((m) => Number(m.id) === popularityId)?.decodesWords).toBe(false);
    expect(listed.find((m) => Number(m.id) === vcmId)?.decodesWords).toBe(true);
    for (const [variables, code, message] of cases) {
      const result = await gql(AUDIENCE, { item, ...variables });
      expect(result.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe(code);
      expect(result.errors?.[0]?.message).toMatch(message);
    }
  });
  it("always counts as a large query, which waits its turn at the heavy-query gate", () => {
    const document = parse(`{ item(id: "1") { recommendedTo(modelId: "1", k: 1) { candidates } } }`);
    const cost = checkOperationLimits({ schema: fixture.server.schema, document, operation: document.definitions[0] as OperationDefinitionNode });
    expect(cost).toBeGreaterThanOrEqual(DEFAULT_HEAVY_GATE_LIMITS.threshold);
    const plain = parse(`{ item(id: "1") { characteristicWords(k: 100) { word } } }`);
    expect(checkOperationLimits({ schema: fixture.server.schema, document: plain, operation: plain.definitions[0] as OperationDefinitionNode })).toBeLessThan(DEFAULT_HEAVY_GATE_LIMITS.threshold);
  });

  it("follows an append: the pass is made again over the grown dataset, and an item appended after training has no audience", async () => {
    const rankSpy = vi.spyOn(VcmModel.prototype, "rankItems");
    try {
      const user = (await gql(`{ dataset(name: "${TEST_DATASET}") { users(first: 1) { edges { node { externalId } } } } }`)).data.dataset.users.edges[0].node.externalId;
      const appended = await gql(`mutation ($records: [AppendRecordInput!]!) { appendInteractions(dataset: "${TEST_DATASET}", records: $records) { itemsAdded } }`, {
        records: [{ user, item: "brand-new-item" }],
      });
      expect(appended.errors).toBeUndefined();
      expect(appended.data.appendInteractions.itemsAdded).toBe(1);
      const item = (await gql(`{ item(dataset: "${TEST_DATASET}", externalId: "brand-new-item") { id } }`)).data.item.id;
      const answer = (await gql(AUDIENCE, { item, m: vcmId, k: 10 })).data.item.recommendedTo;
      expect(answer).toEqual({ users: [], candidates: 0, usersScored: 150, reasons: { words: [], clicks: [], unexplained: 0 } });
      // The user's history changed, so the model's pass was made again.
      expect(rankSpy).toHaveBeenCalled();
    } finally {
      rankSpy.mockRestore();
    }
  });
});
