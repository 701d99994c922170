/**
 * Error codes and the limits that keep one query from taking the server down, through Apollo's
 * executeOperation on the real schema and database.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlOf } from "../../src/db/sql.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { INTERNAL_ERROR_MESSAGE } from "../../src/graphql/errors.ts";
import { MAX_K, MAX_QUERY_COST, MAX_QUERY_DEPTH, MAX_TEXT_LENGTH, checkK, checkPageSize, checkText } from "../../src/graphql/limits.ts";
import { createApiFixture, insertTrainedModel, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

let fixture: ApiFixture;

beforeAll(async () => {
  fixture = await createApiFixture();
});

afterAll(async () => {
  await fixture?.close();
});

/** A query nesting `levels` user → reviews → user … levels deep. */
function nestedReviews(levels: number): string {
  let selection = "id";
  for (let level = 0; level < levels; level += 1) selection = `reviews(first: 1) { edges { node { user { ${selection} } } } }`;
  return `{ user(id: 1) { ${selection} } }`;
}

describe("limits", () => {
  it("refuses a query deeper than the depth limit with BAD_USER_INPUT and HTTP 400, before executing", async () => {
    const shallow = await fixture.server.execute({ query: nestedReviews(2) });
    expect(shallow.errors).toBeUndefined();
    const deep = await fixture.server.execute({ query: nestedReviews(4) });
    expect(deep.data).toBeUndefined();
    expect(deep.status).toBe(400);
    expect(deep.errors).toEqual([
      {
        message: `This query nests fields deeper than the limit of ${MAX_QUERY_DEPTH} levels; split it into several queries.`,
        extensions: { code: "BAD_USER_INPUT" },
      },
    ]);
  });

  it("refuses a query whose estimated cost is over the limit, counting page sizes from variables too", async () => {
    const costly = `query ($n: Int!) { dataset(name: "${TEST_DATASET}") { users(first: $n) { edges { node {
      reviews(first: $n) { edges { node { item { reviews(first: $n) { edges { node { id text } } } } } } } } } } } }`;
    const small = await fixture.server.execute({ query: costly, variables: { n: 3 } });
    expect(small.errors).toBeUndefined();
    const large = await fixture.server.execute({ query: costly, variables: { n: 60 } });
    expect(large.status).toBe(400);
    expect(large.errors).toHaveLength(1);
    expect(large.errors![0]!.extensions?.code).toBe("BAD_USER_INPUT");
    expect(large.errors![0]!.message).toMatch(new RegExp(`estimated cost is \\d+, above the limit of ${MAX_QUERY_COST}; ask for smaller pages`));
  });

  it("checks first, k and text length against the exported constants, with sentences", () => {
    expect(checkPageSize(undefined)).toBe(20);
    expect(checkPageSize(0)).toBe(0);
    expect(checkPageSize(100)).toBe(100);
    expect(() => checkPageSize(101)).toThrow("first must be an integer from 0 to 100, got 101");
    expect(checkK(MAX_K)).toBe(500);
    for (const k of [0, MAX_K + 1, 2.5]) {
      expect(() => checkK(k)).toThrow(UserError);
      expect(() => checkK(k)).toThrow(`k must be an integer from 1 to ${MAX_K}, got ${k}.`);
    }
    expect(checkText("great sushi")).toBe("great sushi");
    expect(() => checkText("   ")).toThrow("text is empty");
    const long = "a".repeat(MAX_TEXT_LENGTH + 1);
    expect(() => checkText(long)).toThrow(`text has ${MAX_TEXT_LENGTH + 1} characters; the limit is ${MAX_TEXT_LENGTH}`);
    // Characters, not UTF-16 units: 10,004 emoji are 20,008 units but 10,004 characters, under the limit;
    // one past the limit in characters is refused with the count of characters.
    const emoji = "🍣".repeat(10_004);
    expect(emoji.length).toBe(20_008);
    expect(checkText(emoji)).toBe(emoji);
    expect(() => checkText("🍣".repeat(MAX_TEXT_LENGTH + 1))).toThrow(`text has ${MAX_TEXT_LENGTH + 1} characters; the limit`);
    try {
      checkText(long);
    } catch (error) {
      expect((error as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
    }
  });

  it("answers k above 500 and an over-long text with BAD_USER_INPUT through the API", async () => {
    const model = await insertTrainedModel(fixture.dataSource, { datasetId: 1 });
    const k = await fixture.server.execute({ query: `{ user(id: 1) { recommendations(modelId: "${model.id}", k: 501) { rank } } }` });
    expect(k.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(k.errors?.[0]?.message).toContain(`k must be an integer from 1 to ${MAX_K}, got 501`);
    const text = await fixture.server.execute({
      query: `query ($text: String!) { recommendForText(modelId: "${model.id}", text: $text, k: 5) { knownWords } }`,
      variables: { text: "sushi ".repeat(MAX_TEXT_LENGTH / 5) },
    });
    expect(text.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(text.errors?.[0]?.message).toContain(`the limit is ${MAX_TEXT_LENGTH}`);
  });
});

describe("error codes", () => {
  it("keeps graphql-js's own codes for malformed documents and Apollo's BAD_USER_INPUT for bad variables", async () => {
    const syntax = await fixture.server.execute({ query: "{ datasets { name " });
    expect(syntax.errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    const unknownField = await fixture.server.execute({ query: "{ datasets { nonsense } }" });
    expect(unknownField.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const badVariable = await fixture.server.execute({
      query: `query ($n: Int!) { dataset(name: "${TEST_DATASET}") { users(first: $n) { totalCount } } }`,
      variables: { n: "ten" },
    });
    expect(badVariable.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("masks an internal failure (here a broken table) as INTERNAL_SERVER_ERROR with no SQL or stack, and logs it", async () => {
    await fixture.dataSource.query("ALTER TABLE reviews RENAME TO reviews_moved");
    try {
      fixture.logger.entries.length = 0;
      const result = await fixture.server.execute({ query: `{ user(id: 1) { externalId reviews { totalCount } } }` });
      expect(result.errors).toEqual([
        {
          message: INTERNAL_ERROR_MESSAGE,
          locations: expect.any(Array),
          path: ["user", "reviews"],
          extensions: { code: "INTERNAL_SERVER_ERROR" },
        },
      ]);
      const text = JSON.stringify(result);
      expect(text).not.toMatch(/SELECT|reviews_moved|no such table|does not exist|stacktrace|\.ts:/i);
      expect(fixture.logger.entries).toHaveLength(1);
      // SQLite's words, or PostgreSQL's.
      expect(String(fixture.logger.entries[0]!.error)).toMatch(/no such table: reviews|relation "reviews" does not exist/);
    } finally {
      await fixture.dataSource.query("ALTER TABLE reviews_moved RENAME TO reviews");
    }
  });

  it("masks a corrupt stored value the same way", async () => {
    const sql = sqlOf(fixture.dataSource);
    const model = await insertTrainedModel(fixture.dataSource, { datasetId: 1 });
    await sql.run("UPDATE trained_models SET history = ? WHERE id = ?", ["{not json", model.id]);
    fixture.logger.entries.length = 0;
    const result = await fixture.server.execute({ query: `{ model(id: ${model.id}) { trainingCurve { epoch } } }` });
    expect(result.errors?.[0]?.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR" });
    expect(result.errors?.[0]?.message).toBe(INTERNAL_ERROR_MESSAGE);
    expect(fixture.logger.entries.length).toBeGreaterThan(0);
    await sql.run("DELETE FROM trained_models WHERE id = ?", [model.id]);
  });

  it("gives NOT_FOUND, BAD_USER_INPUT and MODEL_NOT_READY sentences their codes", async () => {
    const notFound = await fixture.server.execute({ query: "{ user(id: 123456) { id } }" });
    expect(notFound.errors?.[0]).toMatchObject({ message: "No user has id 123456.", extensions: { code: "NOT_FOUND" } });
    const badInput = await fixture.server.execute({ query: '{ user(id: "-3") { id } }' });
    expect(badInput.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const training = await insertTrainedModel(fixture.dataSource, { datasetId: 1, status: "training", testMetrics: null });
    const notReady = await fixture.server.execute({
      query: `{ user(id: 1) { recommendations(modelId: "${training.id}", k: 3) { rank } } }`,
    });
    expect(notReady.errors?.[0]?.extensions?.code).toBe("MODEL_NOT_READY");
  });
});
