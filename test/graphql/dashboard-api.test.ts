/**
 * The API the dashboard's views read (issue 30), through a real server over a real database with
 * models trained in the test: compareModels against the engine's paired t-test on a fresh evaluation,
 * characteristicWords against a hand count, Experiment.figures against what the report writes, and
 * recommendedTo against the users' own recommendations and explanations.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
