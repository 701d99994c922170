/**
 * recommendFor, a history given in the query: with a stored user's training clicks and the words of
 * their bag it answers exactly as that user's recommendations (items, scores, explanations), topWords
 * and capacity; unknown item ids are listed; nothing known, too many clicks or too long a text are
 * BAD_USER_INPUT. Real parts: a migrated database, a trained VCM model, the GraphQL server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatasetMatrices } from "../../src/data/csr.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { MAX_WHAT_IF_CLICKS } from "../../src/graphql/limits.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 10, seed: 3 };

let fixture: ApiFixture;
let matrices: DatasetMatrices;
let vcmId: number;

async function gql(query: string, variables: Record<string, unknown> = {}): Promise<any> {
  return fixture.server.execute({ query, variables });
}

beforeAll(async () => {
  fixture = await createApiFixture();
  vcmId = (await trainAndSave({ dataSource: fixture.dataSource, dataset: TEST_DATASET, variant: "vcm", config: SMALL, modelsDir: fixture.config.modelsDir })).model.id;
  matrices = await loadDatasetMatrices(fixture.dataSource, TEST_DATASET);
});

afterAll(async () => {
  expect(fixture?.logger.entries.map((e) => e.message) ?? []).toEqual([]);
  await fixture?.close();
});

/** A stored user's training clicks (external item ids) and their bag of words written out as a text. */
function storedHistory(row: number): { clicks: string[]; text: string } {
  const { train, words, itemIds, vocabulary } = matrices;
  const clicks = Array.from(train.indices.subarray(train.indptr[row], train.indptr[row + 1]), (c) => itemIds[c]);
  const tokens: string[] = [];
  for (let j = words.indptr[row]; j < words.indptr[row + 1]; j += 1) for (let n = 0; n < words.values[j]; n += 1) tokens.push(vocabulary[words.indices[j]]);
  return { clicks, text: tokens.join(" ") };
}

const EXPLAINED = `recommendations { rank score item { externalId } explanation(k: 4) { rule coveredShare words { word weight effect } clicks { effect } clickReason { kind historyEffect priorRank } } }`;

describe("recommendFor", () => {
  it("answers a stored user's own clicks and words exactly as that user's recommendations, topWords and capacity", async () => {
    const row = [...Array(matrices.train.rows).keys()].find((r) => matrices.words.indptr[r + 1] > matrices.words.indptr[r] && matrices.train.indptr[r + 1] - matrices.train.indptr[r] >= 3)!;
    const stored = await gql(
      `query ($model: ID!, $ext: String!) { user(dataset: "${TEST_DATASET}", externalId: $ext) {
        ${EXPLAINED.replace("recommendations {", "recommendations(modelId: $model, k: 10) {")}
        topWords(modelId: $model, k: 5) { word probability } capacity(modelId: $model) } }`,
      { model: vcmId, ext: matrices.userIds[row] },
    );
    expect(stored.errors).toBeUndefined();
    const { clicks, text } = storedHistory(row);
    const whatIf = await gql(
      `query ($model: ID!, $clicks: [String!]!, $text: String) { recommendFor(modelId: $model, clicks: $clicks, text: $text, k: 10) {
        source unknownItemIds knownItemCount unknownTokenCount ${EXPLAINED} topWords(k: 5) { word probability } capacity } }`,
      { model: vcmId, clicks: [...clicks].reverse(), text },
    );
    expect(whatIf.errors).toBeUndefined();
    const answer = whatIf.data.recommendFor;
    const user = stored.data.user;
    expect(answer.source).toBe("CLICKS");
    expect(answer.unknownItemIds).toEqual([]);
    expect(answer.knownItemCount).toBe(clicks.length);
    expect(answer.unknownTokenCount).toBe(0);
    expect(user.recommendations).toHaveLength(10);
    expect(answer.recommendations).toEqual(user.recommendations);
    expect(answer.recommendations.some((r: any) => r.explanation.words.length > 0)).toBe(true);
    expect(answer.topWords).toEqual(user.topWords);
    expect(answer.capacity).toBe(user.capacity);
    // The clicked items are left out, as a stored user's training clicks are.
    for (const r of answer.recommendations) expect(clicks).not.toContain(r.item.externalId);
  });

  it("lists unknown item ids, ranks from the text alone when no click is known, and moves with an added click", async () => {
    const { clicks, text } = storedHistory(0);
    const QUERY = `query ($model: ID!, $clicks: [String!]!, $text: String) { recommendFor(modelId: $model, clicks: $clicks, text: $text, k: 5) {
      source unknownItemIds knownItemCount knownWords topWords(k: 3) { word } capacity recommendations { score item { externalId } } } }`;
    const withUnknown = await gql(QUERY, { model: vcmId, clicks: ["no-such-item", ...clicks, "also-missing"], text: null });
    expect(withUnknown.errors).toBeUndefined();
    expect(withUnknown.data.recommendFor.unknownItemIds).toEqual(["no-such-item", "also-missing"]);
    expect(withUnknown.data.recommendFor.knownItemCount).toBe(clicks.length);

    const textOnly = await gql(QUERY, { model: vcmId, clicks: ["no-such-item"], text });
    expect(textOnly.errors).toBeUndefined();
    expect(textOnly.data.recommendFor).toMatchObject({ source: "REVIEWS", unknownItemIds: ["no-such-item"], knownItemCount: 0, topWords: null, capacity: null });
    expect(textOnly.data.recommendFor.recommendations).toHaveLength(5);
    // No click known: no click reason of any kind (an empty history is the comparison itself).
    const textReasons = await gql(QUERY.replace("recommendations { score", "recommendations { explanation(k: 2) { clicks { effect } clickReason { kind } } score"), { model: vcmId, clicks: ["no-such-item"], text });
    expect(textReasons.errors).toBeUndefined();
    for (const r of textReasons.data.recommendFor.recommendations) expect(r.explanation).toEqual({ clicks: [], clickReason: null });

    // "What if this user had also clicked X": the scores move.
    const extra = matrices.itemIds.find((id) => !clicks.includes(id))!;
    const more = await gql(QUERY, { model: vcmId, clicks: [...clicks, extra], text: null });
    expect(more.data.recommendFor.recommendations.map((r: any) => r.score)).not.toEqual(withUnknown.data.recommendFor.recommendations.map((r: any) => r.score));
    expect(more.data.recommendFor.recommendations.map((r: any) => r.item.externalId)).not.toContain(extra);
  });

  it("answers BAD_USER_INPUT when nothing is known, with too many clicks or too long a text", async () => {
    const QUERY = `query ($model: ID!, $clicks: [String!]!, $text: String) { recommendFor(modelId: $model, clicks: $clicks, text: $text) { knownItemCount } }`;
    const cases: Array<[string[], string | null, RegExp]> = [
      [[], null, /Give clicks/],
      [["no-such-item"], null, /Nothing in this history is known/],
      [["no-such-item"], "zzzqqq xxyyzz", /no word of the text/],
      [Array.from({ length: MAX_WHAT_IF_CLICKS + 1 }, (_, i) => `i${i}`), null, new RegExp(`limit is ${MAX_WHAT_IF_CLICKS}`)],
      [[matrices.itemIds[0]], "a".repeat(20_001), /limit is/],
    ];
    for (const [clicks, text, message] of cases) {
      const result = await gql(QUERY, { model: vcmId, clicks, text });
      expect(result.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0].message).toMatch(message);
    }
  });
});
