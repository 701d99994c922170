/**
 * Predictions through the API on a small generated dataset with models trained in the test:
 * recommendations (batched: one engine call for 50 users), topWords, capacity, explanations,
 * recommendForText, cohorts against the engine's metric functions, the LRU model cache, error codes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { countStatements, TEST_DIALECT } from "../db/databases.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { csrFromRows, type DatasetMatrices } from "../../src/data/csr.ts";
import { evaluateRanking } from "../../src/engine/evaluate.ts";
import { meanDefined, topK } from "../../src/engine/metrics.ts";
import { beyondAccuracyPerUser, catalogueCoverage } from "../../src/engine/beyond-accuracy.ts";
import { popularityCohorts, quantileBoundaries } from "../../src/engine/cohort-groupings.ts";
import { VcmModel } from "../../src/engine/models/vcm/model.ts";
import { createServer, type VcmServer } from "../../src/server.ts";
import type { LoadedModel } from "../../src/services/served-model.ts";
import { createPredictionServices, loadTrainedModel } from "../../src/services/prediction-services.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, insertTrainedModel, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 10, seed: 3 };

let fixture: ApiFixture;
let server: VcmServer;
let matrices: DatasetMatrices;
let vcmId: number;
let popularityId: number;
let seModelId: number;
let otherDatasetModelId: number;
const modelLoads: number[] = [];

async function gql(query: string, variables: Record<string, unknown> = {}) {
  return server.execute({ query, variables });
}

function codeOf(result: { errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> }): unknown {
  return result.errors?.[0]?.extensions?.code;
}

beforeAll(async () => {
  fixture = await createApiFixture();
  const { dataSource, config } = fixture;
  const train = async (variant: string) =>
    (await trainAndSave({ dataSource, dataset: TEST_DATASET, variant, config: SMALL, modelsDir: config.modelsDir })).model.id;
  vcmId = await train("vcm");
  seModelId = await train("vcm-se");
  popularityId = await train("popularity");
  await ingestDataset(dataSource, { name: "other", source: syntheticSource({ users: 40, items: 30, vocab: 100, seed: 2 }) });
  otherDatasetModelId = (
    await trainAndSave({ dataSource, dataset: "other", variant: "popularity", modelsDir: config.modelsDir })
  ).model.id;
  matrices = await loadDatasetMatrices(dataSource, TEST_DATASET);
  // A server whose model loader counts checkpoint reads, to see the LRU cache at work.
  const prediction = createPredictionServices({
    dataSource,
    config,
    loadModel: async (modelId): Promise<LoadedModel> => {
      modelLoads.push(modelId);
      return loadTrainedModel({ dataSource, modelId });
    },
  });
  server = await createServer({ ...fixture.server.deps, prediction });
});

afterAll(async () => {
  // Every error these tests provoke is a user error: nothing was masked as internal.
  expect(fixture?.logger.entries.map((e) => e.message) ?? []).toEqual([]);
  await server?.stop();
  await fixture?.close();
});

const USERS_QUERY = `query ($model: ID!, $first: Int!, $k: Int!, $source: RecommendationSource) {
  dataset(name: "${TEST_DATASET}") {
    users(first: $first) {
      edges { node { id rowIndex recommendations(modelId: $model, k: $k, source: $source) { rank score item { id columnIndex } } } }
    }
  }
}`;

describe("recommendations", () => {
  it("ranks 50 users in ONE engine call and a bounded number of SQL statements, matching the model's own scores", async () => {
    const scoreSpy = vi.spyOn(VcmModel.prototype, "scoreItems");
    const statements = countStatements(fixture.dataSource);
    try {
      const result = await gql(USERS_QUERY, { model: vcmId, first: 50, k: 10 });
      expect(result.errors).toBeUndefined();
      expect(scoreSpy).toHaveBeenCalledTimes(1);
      expect(scoreSpy.mock.calls[0][0].rows).toHaveLength(50);
      // Dataset, users page, item lookup (and the dataset's matrices on first use): a handful, not 50+.
      const sqlStatements = statements.count();
      expect(sqlStatements).toBeGreaterThan(0);
      expect(sqlStatements).toBeLessThan(20);
      const edges = (result.data as any).dataset.users.edges as Array<{ node: any }>;
      expect(edges).toHaveLength(50);
      const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: vcmId });
      try {
        for (const { node } of edges.slice(0, 5)) {
          const row = node.rowIndex as number;
          const scores = await loaded.model.scoreItems({ matrix: matrices.train, rows: [row] }, "vcm");
          const seen = matrices.train.indices.subarray(matrices.train.indptr[row], matrices.train.indptr[row + 1]);
          const expected = Array.from(topK({ scores, k: 10, exclude: seen }));
          expect(node.recommendations.map((r: any) => r.item.columnIndex)).toEqual(expected);
          expect(node.recommendations.map((r: any) => r.rank)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
          expect(node.recommendations[0].score).toBeCloseTo(scores[expected[0]], 6);
          for (const r of node.recommendations) expect(Array.from(seen)).not.toContain(r.item.columnIndex);
        }
      } finally {
        loaded.model.dispose();
      }
    } finally {
      scoreSpy.mockRestore();
      statements.restore();
    }
  });

  it("answers a repeated query from the model's recent answers: no engine call, the same ranking", async () => {
    const first = await gql(USERS_QUERY, { model: vcmId, first: 50, k: 10 });
    const scoreSpy = vi.spyOn(VcmModel.prototype, "scoreItems");
    try {
      const again = await gql(USERS_QUERY, { model: vcmId, first: 50, k: 10 });
      expect(again.errors).toBeUndefined();
      expect(scoreSpy).not.toHaveBeenCalled();
      expect(again.data).toEqual(first.data);
      // Users not asked for before are scored, and only they.
      const more = await gql(USERS_QUERY, { model: vcmId, first: 60, k: 10 });
      expect(more.errors).toBeUndefined();
      expect(scoreSpy).toHaveBeenCalledTimes(1);
      expect(scoreSpy.mock.calls[0][0].rows).toHaveLength(10);
    } finally {
      scoreSpy.mockRestore();
    }
  });

  it("shares one forward pass between requests that arrive together", async () => {
    // A server of its own, whose models hold no recent answers yet.
    const fresh = await createServer({ ...fixture.server.deps, prediction: createPredictionServices({ dataSource: fixture.dataSource, config: fixture.config }) });
    const scoreSpy = vi.spyOn(VcmModel.prototype, "scoreItems");
    try {
      const query = `query ($id: ID!, $m: ID!) { user(id: $id) { recommendations(modelId: $m, k: 3) { rank } } }`;
      const results = await Promise.all([5, 6, 7].map((id) => fresh.execute({ query, variables: { id, m: vcmId } })));
      for (const r of results) expect(r.errors).toBeUndefined();
      // SQLite answers the three users' lookups in one turn, so one pass scores all three. Over
      // PostgreSQL's socket the lookups finish apart, and the share window (3 ms) merges only those
      // that finish within it, which depends on the machine's load: there, every row is scored once,
      // in at most one pass per request.
      const calls = scoreSpy.mock.calls.length;
      if (TEST_DIALECT === "sqlite") expect(calls).toBe(1);
      else expect(calls).toBeLessThanOrEqual(3);
      expect(scoreSpy.mock.calls.reduce((sum, call) => sum + call[0].rows.length, 0)).toBe(3);
    } finally {
      scoreSpy.mockRestore();
      await fresh.stop();
    }
  });

  it("waits a few milliseconds for more rows while other work uses the engine: requests a little apart share a pass", async () => {
    const services = createPredictionServices({ dataSource: fixture.dataSource, config: fixture.config });
    const request = (row: number) => ({ modelId: vcmId, source: "CLICKS" as const, row, k: 3, excludeSeen: true });
    await services.inference.recommendMany([request(0)]); // loads the model and the dataset
    const scoreSpy = vi.spyOn(VcmModel.prototype, "scoreItems");
    let release = (): void => undefined;
    const other = services.inference.using(vcmId, () => new Promise<void>((resolve) => (release = resolve)));
    try {
      const first = services.inference.recommendMany([request(11)]);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const second = services.inference.recommendMany([request(12)]);
      const [a, b] = await Promise.all([first, second]);
      expect(scoreSpy).toHaveBeenCalledTimes(1);
      expect(scoreSpy.mock.calls[0][0].rows).toEqual([11, 12]);
      expect(a[0]).toHaveLength(3);
      expect(b[0]).toHaveLength(3);
    } finally {
      release();
      await other;
      scoreSpy.mockRestore();
      await services.close();
    }
  });

  it("reads a checkpoint once: the second query is served from the LRU cache", async () => {
    const before = modelLoads.filter((id) => id === vcmId).length;
    const again = await gql(USERS_QUERY, { model: vcmId, first: 3, k: 5 });
    expect(again.errors).toBeUndefined();
    expect(modelLoads.filter((id) => id === vcmId).length).toBe(before);
    expect(before).toBe(1);
  });

  it("keeps an evicted model alive until the work using it ends, then releases it", async () => {
    const services = createPredictionServices({ dataSource: fixture.dataSource, config: fixture.config, sizes: { models: 1, datasets: 1 } });
    const input = { matrix: matrices.train, rows: [0, 1] };
    const kept = await services.inference.using(vcmId, async (loaded) => {
      await services.inference.model(seModelId); // capacity 1: this evicts the first model
      return { loaded, scores: await loaded.model.scoreItems(input, "vcm") };
    });
    expect(kept.scores).toHaveLength(2 * matrices.itemIds.length);
    await expect(kept.loaded.model.scoreItems(input, "vcm")).rejects.toThrow(/disposed/);
    await services.close();
  });

  it("ranks from review words with source REVIEWS (VCM-CD), and can include seen items", async () => {
    const result = await gql(USERS_QUERY, { model: vcmId, first: 2, k: 5, source: "REVIEWS" });
    expect(result.errors).toBeUndefined();
    const node = (result.data as any).dataset.users.edges[0].node;
    const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: vcmId });
    const scores = await loaded.model.scoreItems({ matrix: matrices.words, rows: [node.rowIndex] }, "vcm-cd");
    loaded.model.dispose();
    const row = node.rowIndex as number;
    const seen = matrices.train.indices.subarray(matrices.train.indptr[row], matrices.train.indptr[row + 1]);
    expect(node.recommendations.map((r: any) => r.item.columnIndex)).toEqual(Array.from(topK({ scores, k: 5, exclude: seen })));

    const withSeen = await gql(
      `query ($id: ID!, $model: ID!) { user(id: $id) { recommendations(modelId: $model, k: 500, excludeSeen: false) { item { columnIndex } } } }`,
      { id: node.id, model: vcmId },
    );
    const columns = (withSeen.data as any).user.recommendations.map((r: any) => r.item.columnIndex);
    expect(columns).toHaveLength(Math.min(500, matrices.itemIds.length));
    for (const c of seen) expect(columns).toContain(c);
  });

  it("answers BAD_USER_INPUT for k out of range, REVIEWS on a popularity model, and a model of another dataset", async () => {
    const user = `query ($model: ID!, $k: Int!, $source: RecommendationSource) { user(id: 1) { recommendations(modelId: $model, k: $k, source: $source) { rank } } }`;
    expect(codeOf(await gql(user, { model: vcmId, k: 501 }))).toBe("BAD_USER_INPUT");
    expect(codeOf(await gql(user, { model: vcmId, k: 0 }))).toBe("BAD_USER_INPUT");
    expect(codeOf(await gql(user, { model: popularityId, k: 5, source: "REVIEWS" }))).toBe("BAD_USER_INPUT");
    const other = await gql(user, { model: otherDatasetModelId, k: 3 });
    expect(codeOf(other)).toBe("BAD_USER_INPUT");
    expect(other.errors?.[0].message).toMatch(/trained on dataset "other"/);
    const popular = await gql(user, { model: popularityId, k: 3 });
    expect(popular.errors).toBeUndefined();
  });

  it("counts k in the query cost: 100 users × 500 items × explanations is refused before any scoring", async () => {
    const scoreSpy = vi.spyOn(VcmModel.prototype, "scoreItems");
    try {
      const result = await gql(
        `query ($m: ID!) { dataset(name: "${TEST_DATASET}") { users(first: 100) { edges { node { recommendations(modelId: $m, k: 500) { item { id } explanation(k: 50) { words { word } } } } } } } }`,
        { m: vcmId },
      );
      expect(codeOf(result)).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0].message).toMatch(/cost/i);
      expect(scoreSpy).not.toHaveBeenCalled();
    } finally {
      scoreSpy.mockRestore();
    }
  });

  it("answers NOT_FOUND for an unknown model and MODEL_NOT_READY for one still training", async () => {
    const user = `query ($model: ID!) { user(id: 1) { recommendations(modelId: $model, k: 3) { rank } } }`;
    expect(codeOf(await gql(user, { model: 9999 }))).toBe("NOT_FOUND");
    const training = await insertTrainedModel(fixture.dataSource, { datasetId: matrices.datasetId, status: "training" });
    const result = await gql(user, { model: training.id });
    expect(codeOf(result)).toBe("MODEL_NOT_READY");
    expect(result.errors?.[0].message).toMatch(/still training/);
  });
});

describe("words, capacity and explanations", () => {
  it("topWords are the click2review distribution's largest entries; capacity is ĉu", async () => {
    const result = await gql(
      `query ($model: ID!) { user(id: 2) { rowIndex topWords(modelId: $model, k: 5) { word probability } capacity(modelId: $model) } }`,
      { model: vcmId },
    );
    expect(result.errors).toBeUndefined();
    const user = (result.data as any).user;
    const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: vcmId });
    const p = await loaded.model.wordDistribution({ matrix: matrices.train, rows: [user.rowIndex] });
    const capacity = (await loaded.model.capacity({ matrix: matrices.train, rows: [user.rowIndex] }))[0];
    loaded.model.dispose();
    expect(user.topWords.map((w: any) => w.word)).toEqual(Array.from(topK({ scores: p, k: 5 }), (w) => matrices.vocabulary[w]));
    expect(user.topWords[0].probability).toBeCloseTo(p[topK({ scores: p, k: 1 })[0]], 6);
    expect(user.capacity).toBeCloseTo(capacity, 4);
    expect(user.capacity).toBeGreaterThan(0);
  });

  it("explains each recommendation by effect (the default): words of the user's bag with lift > 1 whose removal lowers the score", async () => {
    const result = await gql(
      `query ($model: ID!) { user(id: 3) { rowIndex recommendations(modelId: $model, k: 3) { item { id } explanation(k: 5) { rule words { word weight userProbability lift effect } coveredShare } } } }`,
      { model: vcmId },
    );
    expect(result.errors).toBeUndefined();
    const user = (result.data as any).user;
    const bag = new Set(Array.from(matrices.words.indices.subarray(matrices.words.indptr[user.rowIndex], matrices.words.indptr[user.rowIndex + 1]), (w) => matrices.vocabulary[w]));
    let listed = 0;
    for (const rec of user.recommendations) {
      const e = rec.explanation;
      expect(e.rule).toBe("EFFECT");
      const score = (w: any) => w.userProbability * w.effect;
      for (const w of e.words) {
        listed += 1;
        expect(bag.has(w.word)).toBe(true);
        expect(w.lift).toBeGreaterThan(1);
        expect(w.effect).toBeGreaterThan(0);
        expect(w.weight * (score(e.words[0]) / e.words[0].weight)).toBeCloseTo(score(w), 8);
      }
      const weights = e.words.map((w: any) => w.weight);
      expect([...weights].sort((a, b) => b - a)).toEqual(weights);
      expect(e.coveredShare).toBeCloseTo(weights.reduce((a: number, b: number) => a + b, 0), 10);
    }
    expect(listed).toBeGreaterThan(0);
  });

  it("runs the click passes only for explanations that select clicks, through a fragment too, with the same words either way", async () => {
    const spy = vi.spyOn(VcmModel.prototype, "reasonEffects");
    // The pairs of the engine calls for clicks (the word deletions share those calls).
    const clickPairs = () => spy.mock.calls.reduce((n, [input]) => n + input.clickPairs.length, 0);
    try {
      const query = (selection: string, fragments = "") =>
        `query ($model: ID!) { user(id: 8) { recommendations(modelId: $model, k: 3) { explanation(k: 4) { ${selection} } } } } ${fragments}`;
      const wordsOnly = await gql(query("words { word } ...Words", "fragment Words on Explanation { coveredShare }"), { model: vcmId });
      expect(wordsOnly.errors).toBeUndefined();
      expect(clickPairs()).toBe(0);
      spy.mockClear();
      const both = await gql(query("words { word } ...Reasons", "fragment Reasons on Explanation { ... on Explanation { clicks { effect } } }"), { model: vcmId });
      expect(both.errors).toBeUndefined();
      expect(spy).toHaveBeenCalledTimes(1);
      expect(clickPairs()).toBe(3);
      const recommendations = (both.data as any).user.recommendations;
      expect(recommendations.some((r: any) => r.explanation.clicks.length > 0)).toBe(true);
      expect(recommendations.map((r: any) => r.explanation.words)).toEqual((wordsOnly.data as any).user.recommendations.map((r: any) => r.explanation.words));
      expect((wordsOnly.data as any).user.recommendations[0].explanation.clicks).toBeUndefined();
      // Selecting the kind of click reason alone runs the click passes too (their kept answers serve here).
      const reasonOnly = await gql(query("clickReason { kind priorRank }").replace("explanation(k: 4)", "explanation(k: 2)"), { model: vcmId });
      expect(reasonOnly.errors).toBeUndefined();
      for (const r of (reasonOnly.data as any).user.recommendations) expect(["CLICKS", "HISTORY", "POPULARITY"]).toContain(r.explanation.clickReason.kind);
    } finally {
      spy.mockRestore();
    }
  });

  it("explains each recommendation by evidence on request: words with lift > 1, ranked and weighted by p(w|u)", async () => {
    const result = await gql(
      `query ($model: ID!) { user(id: 3) { recommendations(modelId: $model, k: 3) { item { id } explanation(k: 5, rule: EVIDENCE) { rule words { word weight userProbability lift effect } coveredShare } } } }`,
      { model: vcmId },
    );
    expect(result.errors).toBeUndefined();
    for (const rec of (result.data as any).user.recommendations) {
      const e = rec.explanation;
      expect(e.rule).toBe("EVIDENCE");
      expect(e.words.length).toBeGreaterThan(0);
      for (const w of e.words) expect(w.effect).toBeNull();
      const score = (w: any) => w.userProbability;
      for (const w of e.words) expect(w.lift).toBeGreaterThan(1);
      // Weights are the scores over one common total.
      const total = score(e.words[0]) / e.words[0].weight;
      for (const w of e.words) expect(w.weight * total).toBeCloseTo(score(w), 8);
      const weights = e.words.map((w: any) => w.weight);
      expect([...weights].sort((a, b) => b - a)).toEqual(weights);
      expect(e.coveredShare).toBeCloseTo(weights.reduce((a: number, b: number) => a + b, 0), 10);
    }
  });

  it("explains each recommendation by the lift rule on request, with weights that are shares of the whole tie (≤ 1 in total, sorted)", async () => {
    const result = await gql(
      `query ($model: ID!) { user(id: 3) { recommendations(modelId: $model, k: 3) { item { id } explanation(k: 5, rule: LIFT) { words { word weight userProbability lift } coveredShare affinity itemReviewTokens } } } }`,
      { model: vcmId },
    );
    expect(result.errors).toBeUndefined();
    for (const rec of (result.data as any).user.recommendations) {
      const e = rec.explanation;
      expect(e.words).toHaveLength(5);
      const sum = e.words.reduce((s: number, w: any) => s + w.weight, 0);
      expect(e.coveredShare).toBeCloseTo(sum, 10);
      expect(sum).toBeLessThanOrEqual(1 + 1e-9);
      const weights = e.words.map((w: any) => w.weight);
      expect([...weights].sort((a, b) => b - a)).toEqual(weights);
      // weight = p(w|u)·lift / affinity, by definition.
      for (const w of e.words) expect(w.weight).toBeCloseTo((w.userProbability * w.lift) / e.affinity, 8);
      expect(e.itemReviewTokens).toBeGreaterThan(0);
    }
    // The full vocabulary's weights sum to 1.
    const all = await gql(
      `query ($model: ID!, $item: ID!) { user(id: 3) { explanation(modelId: $model, itemId: $item, k: 500, rule: LIFT) { coveredShare words { weight } } } }`,
      { model: vcmId, item: (result.data as any).user.recommendations[0].item.id },
    );
    expect(all.errors).toBeUndefined();
    const vocabulary = matrices.vocabulary.length;
    if (vocabulary <= 500) expect((all.data as any).user.explanation.coveredShare).toBeCloseTo(1, 6);
    else expect((all.data as any).user.explanation.coveredShare).toBeLessThan(1);
  });

  it("highlights a review with its writer's p_u(w) under two models, at the offsets of the original text", async () => {
    const user = ((await gql(`{ user(id: 3) { reviews(first: 1) { edges { node { id text } } } topWords(modelId: "${vcmId}", k: 500) { word probability } } }`)).data as any).user;
    const review = user.reviews.edges[0].node;
    const result = await gql(
      `query ($m: ID!, $c: ID!) { user(id: 3) { reviews(first: 1) { edges { node { highlights(modelId: $m, compareTo: $c) { text start end word mark { probability level } compared { probability level } } } } } } }`,
      { m: vcmId, c: seModelId },
    );
    expect(result.errors).toBeUndefined();
    const tokens = (result.data as any).user.reviews.edges[0].node.highlights;
    expect(tokens.length).toBeGreaterThan(0);
    const probability = new Map<string, number>(user.topWords.map((w: any) => [w.word, w.probability]));
    let marked = 0;
    for (const t of tokens) {
      expect(review.text.slice(t.start, t.end)).toBe(t.text);
      if (t.word === null) {
        expect(t.mark).toBeNull();
        continue;
      }
      marked += 1;
      expect(t.word).toBe(t.text.toLowerCase());
      if (probability.has(t.word)) expect(t.mark.probability).toBeCloseTo(probability.get(t.word)!, 6);
      expect(["HIGH", "MEDIUM", "LOW"]).toContain(t.mark.level);
      expect(t.compared).not.toBeNull();
    }
    expect(marked).toBeGreaterThan(0);
    // The two models differ somewhere in the text.
    expect(tokens.some((t: any) => t.word !== null && t.compared.probability !== t.mark.probability)).toBe(true);
    const popularity = await gql(`{ user(id: 3) { reviews(first: 1) { edges { node { highlights(modelId: "${popularityId}") { word } } } } } }`);
    expect(codeOf(popularity)).toBe("BAD_USER_INPUT");
  });

  it("answers NOT_FOUND for an unknown item and BAD_USER_INPUT for a popularity model's words", async () => {
    const e = await gql(`query ($model: ID!) { user(id: 1) { explanation(modelId: $model, itemId: 99999) { affinity } } }`, { model: vcmId });
    expect(codeOf(e)).toBe("NOT_FOUND");
    const w = await gql(`query ($model: ID!) { user(id: 1) { topWords(modelId: $model) { word } } }`, { model: popularityId });
    expect(codeOf(w)).toBe("BAD_USER_INPUT");
    const c = await gql(`query ($model: ID!) { user(id: 1) { capacity(modelId: $model) } }`, { model: popularityId });
    expect(codeOf(c)).toBe("BAD_USER_INPUT");
  });
});

describe("recommendForText", () => {
  const QUERY = `query ($model: ID!, $text: String!, $k: Int) { recommendForText(modelId: $model, text: $text, k: $k) { knownWords unknownTokenCount items { rank score item { columnIndex } } } }`;

  it("scores the text's bag of words with VCM-CD and reports the known words and unknown tokens", async () => {
    const words = [matrices.vocabulary[0], matrices.vocabulary[5], matrices.vocabulary[5]];
    const text = `${words.join(" ")} zzzqqq xxyyzz`;
    const result = await gql(QUERY, { model: vcmId, text, k: 4 });
    expect(result.errors).toBeUndefined();
    const answer = (result.data as any).recommendForText;
    expect(answer.knownWords).toEqual([matrices.vocabulary[0], matrices.vocabulary[5]]);
    expect(answer.unknownTokenCount).toBe(2);
    expect(answer.items).toHaveLength(4);
    const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: vcmId });
    const bag = {
      rows: 1,
      cols: matrices.vocabulary.length,
      indptr: Int32Array.from([0, 2]),
      indices: Int32Array.from([0, 5]),
      values: Float32Array.from([1, 2]),
    };
    const scores = await loaded.model.scoreItems({ matrix: bag, rows: [0] }, "vcm-cd");
    loaded.model.dispose();
    expect(answer.items.map((i: any) => i.item.columnIndex)).toEqual(Array.from(topK({ scores, k: 4 })));
  });

  it("answers BAD_USER_INPUT for empty, all-unknown or too long text and for a popularity model", async () => {
    for (const [model, text] of [
      [vcmId, "   "],
      [vcmId, "zzzqqq xxyyzz"],
      [vcmId, "the and of"],
      [vcmId, "a".repeat(20_001)],
      [popularityId, matrices.vocabulary[0]],
    ] as const) {
      const result = await gql(QUERY, { model, text });
      expect(codeOf(result)).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0].message).toMatch(/\.$/);
    }
  });
});

describe("cohorts", () => {
  const QUERY = `query ($model: ID!, $b: [Int!], $cmp: ID) { cohorts(modelId: $model, boundaries: $b, compareTo: $cmp) {
    testUsers boundaries cohorts { label minClicks maxClicks userCount figures { meanCapacity ndcg10 recall20 } compared { ndcg10 recall20 } change { ndcg10 recall20 } } } }`;

  it("equals the engine's evaluateRanking and capacity over the same users, with a comparison", async () => {
    const boundaries = [5, 10];
    const result = await gql(QUERY, { model: vcmId, b: boundaries, cmp: seModelId });
    expect(result.errors).toBeUndefined();
    const analysis = (result.data as any).cohorts;
    const testRows: number[] = [];
    for (let r = 0; r < matrices.test.rows; r += 1) if (matrices.test.indptr[r + 1] > matrices.test.indptr[r]) testRows.push(r);
    expect(analysis.testUsers).toBe(testRows.length);
    const activity = (r: number) => matrices.train.indptr[r + 1] - matrices.train.indptr[r];
    for (const [modelId, pick] of [
      [vcmId, (c: any) => c.figures],
      [seModelId, (c: any) => c.compared],
    ] as const) {
      const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId });
      const ranking = await evaluateRanking({
        model: loaded.model,
        mode: "vcm",
        input: matrices.train,
        heldOut: matrices.test,
        exclude: matrices.train,
        ks: [10, 20],
        rows: testRows,
      });
      const capacity = await loaded.model.capacity({ matrix: matrices.train, rows: testRows });
      loaded.model.dispose();
      const ranges = [
        [0, 4],
        [5, 9],
        [10, Infinity],
      ];
      ranges.forEach(([lo, hi], j) => {
        const members = testRows.map((r, u) => [r, u]).filter(([r]) => activity(r) >= lo && activity(r) <= hi);
        const cohort = analysis.cohorts[j];
        expect(cohort.userCount).toBe(members.length);
        if (members.length === 0) return;
        const figures = pick(cohort);
        expect(figures.ndcg10).toBeCloseTo(meanDefined(members.map(([, u]) => ranking.perUser["ndcg@10"][u])), 10);
        expect(figures.recall20).toBeCloseTo(meanDefined(members.map(([, u]) => ranking.perUser["recall@20"][u])), 10);
        if (modelId === vcmId) {
          expect(figures.meanCapacity).toBeCloseTo(meanDefined(members.map(([, u]) => capacity[u])), 4);
        }
      });
    }
    const first = analysis.cohorts.find((c: any) => c.userCount > 0 && c.compared.ndcg10 > 0);
    if (first) expect(first.change.ndcg10).toBeCloseTo((first.figures.ndcg10 - first.compared.ndcg10) / first.compared.ndcg10, 10);
    expect(analysis.cohorts.map((c: any) => c.label)).toEqual(["< 5", "5–9", "≥ 10"]);
  });

  it("cuts quantile groups, and its beyond-accuracy figures and TrainedModel's equal the engine's over the same lists", async () => {
    const q = `query ($model: ID!, $id: ID!) {
      cohorts(modelId: $model, grouping: EQUAL_INTERACTIONS, groups: 3, headShare: 0.2, tailShare: 0.2) {
        grouping boundaries testUsers cohorts { userCount figures { beyondAccuracy { coverage arp aplt novelty } } }
        beyondAccuracy { coverage arp aplt novelty } itemCohorts { name itemCount clickShare testClicks recall20 recommendationShare } }
      model(id: $id) { beyondAccuracy { coverage arp aplt novelty } } }`;
    const result = await gql(q, { model: vcmId, id: vcmId });
    expect(result.errors).toBeUndefined();
    const { cohorts, model } = result.data as any;
    const testRows: number[] = [];
    for (let r = 0; r < matrices.test.rows; r += 1) if (matrices.test.indptr[r + 1] > matrices.test.indptr[r]) testRows.push(r);
    const activity = testRows.map((r) => matrices.train.indptr[r + 1] - matrices.train.indptr[r]);
    expect(cohorts.grouping).toBe("EQUAL_INTERACTIONS");
    expect(cohorts.boundaries).toEqual(quantileBoundaries({ activity, groups: 3, weight: "interactions" }));
    expect(cohorts.cohorts.reduce((s: number, c: any) => s + c.userCount, 0)).toBe(testRows.length);
    // The engine's own lists of the same users, and the metrics over them.
    const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: vcmId });
    const ranking = await evaluateRanking({ model: loaded.model, mode: "vcm", input: matrices.train, heldOut: matrices.test, exclude: matrices.train, ks: [10, 20], rows: testRows });
    loaded.model.dispose();
    const itemClicks = new Int32Array(matrices.train.cols);
    for (let p = 0; p < matrices.train.indptr[matrices.train.rows]; p += 1) itemClicks[matrices.train.indices[p]] += 1;
    const cohortOf = popularityCohorts({ clicks: itemClicks, headShare: 0.2, tailShare: 0.2 });
    const lists = { items: ranking.top, stride: ranking.topStride };
    const perUser = beyondAccuracyPerUser({ lists, k: 10, itemClicks, users: matrices.train.rows, tail: Array.from(cohortOf, (c) => c === 2) });
    const expected = {
      coverage: catalogueCoverage({ lists, k: 10, numItems: matrices.train.cols }),
      arp: meanDefined(perUser.arp),
      aplt: meanDefined(perUser.aplt),
      novelty: meanDefined(perUser.novelty),
    };
    for (const key of ["coverage", "arp", "aplt", "novelty"] as const) {
      expect(cohorts.beyondAccuracy[key], key).toBeCloseTo(expected[key], 10);
      expect(model.beyondAccuracy[key], key).toBeCloseTo(expected[key], 10);
    }
    expect(expected.coverage).toBeGreaterThan(0);
    expect(cohorts.itemCohorts.map((c: any) => c.name)).toEqual(["head", "torso", "tail"]);
    expect(cohorts.itemCohorts.reduce((s: number, c: any) => s + c.itemCount, 0)).toBe(matrices.train.cols);
    expect(cohorts.itemCohorts.reduce((s: number, c: any) => s + c.testClicks, 0)).toBe(matrices.test.indptr[matrices.test.rows]);
    expect(cohorts.itemCohorts[0].clickShare).toBeGreaterThanOrEqual(0.2);
    expect(cohorts.itemCohorts[2].clickShare).toBeLessThanOrEqual(0.2);
    // In a list of models the cost cannot be counted before the work: refused.
    const listed = await gql(`{ models { id beyondAccuracy { coverage } } }`);
    expect(codeOf(listed)).toBe("BAD_USER_INPUT");
    for (const bad of [{ groups: 0 }, { headShare: 0.7, tailShare: 0.7 }]) {
      const refused = await gql(`query ($model: ID!, $groups: Int, $headShare: Float, $tailShare: Float) { cohorts(modelId: $model, grouping: EQUAL_USERS, groups: $groups, headShare: $headShare, tailShare: $tailShare) { testUsers } }`, { model: vcmId, ...bad });
      expect(codeOf(refused)).toBe("BAD_USER_INPUT");
    }
  });

  it("uses the paper's boundaries by default and rejects bad ones with BAD_USER_INPUT", async () => {
    const result = await gql(QUERY, { model: vcmId });
    expect((result.data as any).cohorts.boundaries).toEqual([5, 20, 40, 60, 80]);
    expect((result.data as any).cohorts.cohorts).toHaveLength(6);
    for (const b of [[20, 5], [0, 5], [5, 5], []]) {
      expect(codeOf(await gql(QUERY, { model: vcmId, b }))).toBe("BAD_USER_INPUT");
    }
  });
});

describe("deleteModel racing queries", () => {
  let url = "";
  beforeAll(async () => {
    url = (await fixture.server.listen({ port: 0 })).url;
  });
  // 60 queries 5 ms apart over HTTP, the model deleted 30 ms (while its checkpoint is being read) or
  // 120 ms (while cohorts evaluate on it) after the first: each answer is data or NOT_FOUND.
  for (const deleteAfterMs of [30, 120]) {
    it(`answers data or NOT_FOUND, never an internal error, when the model is deleted ${deleteAfterMs} ms into the queries`, async () => {
      const { dataSource, config } = fixture;
      const modelId = (await trainAndSave({ dataSource, dataset: TEST_DATASET, variant: "vcm", config: SMALL, modelsDir: config.modelsDir })).model.id;
      const post = (query: string) =>
        fetch(new URL("/graphql", url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) }).then(
          (r) => r.json() as Promise<{ data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions: { code: string } }> }>,
        );
      const queries = [
        `{ user(id: 4) { recommendations(modelId: ${modelId}, k: 5) { rank item { id } } } }`,
        `{ cohorts(modelId: ${modelId}) { testUsers cohorts { userCount figures { ndcg10 } } } }`,
      ];
      const answers: Array<Promise<Awaited<ReturnType<typeof post>>>> = [];
      let deletion: Promise<Awaited<ReturnType<typeof post>>> | undefined;
      const started = Date.now();
      for (let i = 0; i < 60; i += 1) {
        answers.push(post(queries[i % 2]));
        if (deletion === undefined && Date.now() - started >= deleteAfterMs) deletion = post(`mutation { deleteModel(id: ${modelId}) }`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect((await deletion!).data).toEqual({ deleteModel: String(modelId) });
      const results = await Promise.all(answers);
      const notFound = `There is no model ${modelId}; list the trained models with \`vcm models\`.`;
      for (const result of results) {
        if (result.errors === undefined) continue;
        expect(result.errors.map((e) => [e.extensions.code, e.message])).toEqual([["NOT_FOUND", notFound]]);
      }
      // The queries after the delete were refused.
      expect(results.at(-1)!.errors?.[0].extensions.code).toBe("NOT_FOUND");
    });
  }
});

describe("deleteModel while a query loads the model", () => {
  it("answers NOT_FOUND, not an internal error, when the model arrives after it was deleted", async () => {
    const { dataSource, config } = fixture;
    const modelId = (await trainAndSave({ dataSource, dataset: TEST_DATASET, variant: "vcm", config: SMALL, modelsDir: config.modelsDir })).model.id;
    let loaded!: () => void;
    const read = new Promise<void>((resolve) => (loaded = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The checkpoint is read before the delete and handed over after it: the cache releases it on arrival.
    const prediction = createPredictionServices({
      dataSource,
      config,
      loadModel: async (id) => {
        const model = await loadTrainedModel({ dataSource, modelId: id });
        loaded();
        await gate;
        return model;
      },
    });
    const slow = await createServer({ ...fixture.server.deps, prediction });
    try {
      const cohorts = slow.execute({ query: `{ cohorts(modelId: ${modelId}) { testUsers } }` });
      await read;
      expect((await slow.execute({ query: `mutation { deleteModel(id: ${modelId}) }` })).errors).toBeUndefined();
      release();
      const result = await cohorts;
      expect(result.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([["NOT_FOUND", `There is no model ${modelId}; list the trained models with \`vcm models\`.`]]);
    } finally {
      await slow.stop();
    }
  });
});

describe("over real HTTP", () => {
  let url: string;
  beforeAll(async () => {
    url = (await server.listen({ port: 0 })).url;
  });

  it("serves recommendations with explanations and an error code to a fetch client", async () => {
    const post = (query: string) =>
      fetch(new URL("/graphql", url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query }),
      }).then((r) => r.json() as Promise<any>);
    const ok = await post(
      `{ user(id: 4) { recommendations(modelId: ${vcmId}, k: 2) { rank item { id } explanation(k: 3) { words { word weight } } } } }`,
    );
    expect(ok.errors).toBeUndefined();
    expect(ok.data.user.recommendations).toHaveLength(2);
    expect(ok.data.user.recommendations[0].explanation.words).toHaveLength(3);
    const bad = await post(`{ recommendForText(modelId: ${vcmId}, text: "zzzqqq") { knownWords } }`);
    expect(bad.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    const cohorts = await post(`{ cohorts(modelId: ${vcmId}) { testUsers } }`);
    expect(cohorts.data.cohorts.testUsers).toBeGreaterThan(0);
  });

  it("lists with every explanation the clicked items whose removal lowers the score, each with its effect, the same under every rule", async () => {
    const post = (query: string) =>
      fetch(new URL("/graphql", url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) }).then((r) => r.json() as Promise<any>);
    const reasons = "clicks { effect item { id columnIndex } } clickReason { kind historyEffect priorRank } words { word }";
    const answer = await post(
      `{ user(id: 5) { rowIndex recommendations(modelId: ${vcmId}, k: 4) { score item { id columnIndex } explanation(k: 3) { ${reasons} } evidence: explanation(k: 3, rule: EVIDENCE) { ${reasons} } } } }`,
    );
    expect(answer.errors).toBeUndefined();
    const { rowIndex, recommendations } = answer.data.user;
    const history = Array.from(matrices.train.indices.subarray(matrices.train.indptr[rowIndex], matrices.train.indptr[rowIndex + 1]));
    const model = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: vcmId });
    try {
      for (const rec of recommendations) {
        const { clicks } = rec.explanation;
        expect(clicks.length).toBeGreaterThan(0);
        expect(clicks.length).toBeLessThanOrEqual(3);
        expect(rec.evidence.clicks).toEqual(clicks);
        const effects = clicks.map((c: any) => c.effect);
        expect([...effects].sort((a, b) => b - a)).toEqual(effects);
        for (const c of clicks) {
          expect(history).toContain(c.item.columnIndex);
          expect(c.effect).toBeGreaterThan(0);
        }
        // The top click's effect is the fall of the item's score when that click leaves the history.
        const rows = [history, history.filter((i) => i !== clicks[0].item.columnIndex)].map((h) => h.map((i): [number, number] => [i, 1]));
        const scores = await model.model.scoreItems({ matrix: csrFromRows({ cols: matrices.train.cols, rows }), rows: [0, 1] }, "vcm");
        const item = rec.item.columnIndex;
        expect(scores[item]).toBeCloseTo(rec.score, 6);
        expect(clicks[0].effect).toBeCloseTo(1 - scores[matrices.train.cols + item] / scores[item], 5);
        // The whole history against none: the item's score for an empty history, one pass for every user.
        const prior = await model.model.scoreItems({ matrix: csrFromRows({ cols: matrices.train.cols, rows: [[]] }), rows: [0] }, "vcm");
        expect(rec.explanation.clickReason.kind).toBe("CLICKS");
        expect(rec.explanation.clickReason.historyEffect).toBeCloseTo(1 - prior[item] / scores[item], 5);
        expect(rec.explanation.clickReason.priorRank).toBe(1 + Array.from(prior).filter((p, i) => p > prior[item] || (p === prior[item] && i < item)).length);
        expect(rec.evidence.clickReason).toEqual(rec.explanation.clickReason);
      }
    } finally {
      model.model.dispose();
    }
  });
});
