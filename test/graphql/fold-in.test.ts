/**
 * Answers from the history as it is now, through the API on a real database (SQLite file, and
 * PostgreSQL in the postgres project): another connection appends (as `vcm ingest --append` would),
 * and the server's next answers read the new histories: the changed user's ranking moves and leaves
 * out the item clicked after training, an unchanged user's answer is the same to the bit, a user
 * added after training is answered, an item added after training is never recommended, and the model
 * says what it does not know (datasetVersion, itemsAddedSince, usersAddedSince).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DataSource } from "typeorm";
import type { DatasetMatrices } from "../../src/data/csr.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { appendRecords } from "../../src/services/append.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 10, seed: 3 };

let fixture: ApiFixture;
let writer: DataSource;
let matrices: DatasetMatrices;
let modelId: number;

async function gql(query: string, variables: Record<string, unknown> = {}): Promise<any> {
  return fixture.server.execute({ query, variables });
}

beforeAll(async () => {
  fixture = await createApiFixture();
  modelId = (await trainAndSave({ dataSource: fixture.dataSource, dataset: TEST_DATASET, variant: "vcm", config: SMALL, modelsDir: fixture.config.modelsDir })).model.id;
  matrices = await loadDatasetMatrices(fixture.dataSource, TEST_DATASET);
  // Another connection, as another process (the CLI) would have.
  writer = await openDatabase(fixture.dbPath);
});

afterAll(async () => {
  expect(fixture?.logger.entries.map((e) => e.message) ?? []).toEqual([]);
  await writer?.destroy();
  await fixture?.close();
});

const RANKING = `query ($model: ID!, $ext: String!) { user(dataset: "${TEST_DATASET}", externalId: $ext) {
  recommendations(modelId: $model, k: 500) { score item { externalId } } topWords(modelId: $model, k: 5) { word probability } capacity(modelId: $model) } }`;

async function answerFor(externalId: string): Promise<{ recommendations: Array<{ score: number; item: { externalId: string } }>; topWords: unknown; capacity: number }> {
  const result = await gql(RANKING, { model: modelId, ext: externalId });
  expect(result.errors).toBeUndefined();
  return result.data.user;
}

describe("answers after an append by another connection", () => {
  it("moves the changed user's answers, keeps the unchanged user's exactly, answers a new user and never recommends a new item", async () => {
    const changed = matrices.userIds[3];
    const unchanged = matrices.userIds[5];
    const clicked = (row: number) => new Set([matrices.train, matrices.validation, matrices.test].flatMap((m) => Array.from(m.indices.subarray(m.indptr[row], m.indptr[row + 1]))));
    const newlyClicked = matrices.itemIds.find((_, c) => !clicked(3).has(c))!;
    const beforeChanged = await answerFor(changed);
    const beforeUnchanged = await answerFor(unchanged);
    const cohorts = fixture.server.deps.prediction!.cohorts;
    const evaluated = await cohorts.evaluation(modelId);
    const model = `query ($id: ID!) { model(id: $id) { datasetVersion itemsAddedSince usersAddedSince } }`;
    expect((await gql(model, { id: modelId })).data.model).toEqual({ datasetVersion: 1, itemsAddedSince: 0, usersAddedSince: 0 });

    const summary = await appendRecords(writer, {
      dataset: TEST_DATASET,
      records: [
        { user: changed, item: newlyClicked, rating: 5, text: null },
        { user: changed, item: "fresh-item", rating: 5, text: null },
        ...matrices.itemIds.slice(0, 3).map((item) => ({ user: "newcomer", item, rating: 5, text: null })),
      ],
    });
    expect(summary).toMatchObject({ version: 2, usersAdded: 1, itemsAdded: 1, clicksAdded: 5 });

    // On PostgreSQL the commit's notification reaches the server a few milliseconds later.
    let afterChanged = await answerFor(changed);
    for (let i = 0; i < 50 && JSON.stringify(afterChanged) === JSON.stringify(beforeChanged); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      afterChanged = await answerFor(changed);
    }
    expect(afterChanged.recommendations.map((r) => r.score)).not.toEqual(beforeChanged.recommendations.map((r) => r.score));
    expect(afterChanged.capacity).not.toBe(beforeChanged.capacity);
    expect(afterChanged.recommendations.map((r) => r.item.externalId)).not.toContain(newlyClicked);
    expect(afterChanged.recommendations).toHaveLength(beforeChanged.recommendations.length - 1);

    expect(await answerFor(unchanged)).toEqual(beforeUnchanged);

    const newcomer = await answerFor("newcomer");
    expect(newcomer.recommendations).toHaveLength(matrices.itemIds.length - 3);
    for (const answer of [afterChanged, newcomer]) expect(answer.recommendations.map((r) => r.item.externalId)).not.toContain("fresh-item");

    expect((await gql(model, { id: modelId })).data.model).toEqual({ datasetVersion: 1, itemsAddedSince: 1, usersAddedSince: 1 });

    // Cohorts are figured again from the new histories: the changed user has one more training click.
    const reevaluated = await cohorts.evaluation(modelId);
    expect(reevaluated).not.toBe(evaluated);
    const position = Array.from(evaluated.rows).indexOf(3);
    if (position >= 0) expect(reevaluated.activity[position]).toBe(evaluated.activity[position] + 1);

    // A what-if history: the item added after training is unknown to the model, and listed.
    const whatIf = await gql(`query ($model: ID!, $clicks: [String!]!) { recommendFor(modelId: $model, clicks: $clicks, k: 5) { unknownItemIds knownItemCount } }`, {
      model: modelId,
      clicks: ["fresh-item", newlyClicked],
    });
    // No text argument at all (not even null).
    expect(whatIf.data.recommendFor).toEqual({ unknownItemIds: ["fresh-item"], knownItemCount: 1 });
  });
});
