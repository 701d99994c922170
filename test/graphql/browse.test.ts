/**
 * Browse queries through Apollo's executeOperation on a real SQLite file (migrations + a generated
 * dataset): statistics, connections and their edges, lookups by id and external id, models.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlOf, type SqlValue } from "../../src/db/sql.ts";
import { countStatements } from "../db/databases.ts";
import { createApiFixture, insertTrainedModel, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

let fixture: ApiFixture;
let datasetId: number;

/** Runs a query and fails the test on any error. */
async function query<T = any>(source: string, variables?: Record<string, unknown>): Promise<T> {
  const result = await fixture.server.execute({ query: source, variables });
  expect(result.errors).toBeUndefined();
  return result.data as T;
}

/** Runs a query that must fail, returning its errors. */
async function failing(source: string, variables?: Record<string, unknown>) {
  const result = await fixture.server.execute({ query: source, variables });
  expect(result.errors?.length).toBeGreaterThan(0);
  return result.errors!;
}

const sql = <T = any>(text: string, ...params: SqlValue[]): Promise<T[]> => sqlOf(fixture.dataSource).all<T>(text, params);

beforeAll(async () => {
  fixture = await createApiFixture();
  datasetId = (await sql<{ id: number }>("SELECT id FROM datasets WHERE name = ?", TEST_DATASET))[0]!.id;
});

afterAll(async () => {
  await fixture?.close();
});

describe("datasets", () => {
  it("lists each dataset with Table 1 statistics that match the stored rows", async () => {
    const data = await query(`{ datasets { id name source statistics {
      users items interactions sparsity vocabularySize trainClicks validationClicks testClicks reviews } } }`);
    const [counts] = await sql(`SELECT
      (SELECT COUNT(*) FROM users WHERE dataset_id = ?) AS users,
      (SELECT COUNT(*) FROM items WHERE dataset_id = ?) AS items,
      (SELECT COUNT(*) FROM clicks WHERE dataset_id = ?) AS clicks,
      (SELECT COUNT(*) FROM clicks WHERE dataset_id = ? AND split = 'train') AS train,
      (SELECT COUNT(*) FROM clicks WHERE dataset_id = ? AND split = 'validation') AS validation,
      (SELECT COUNT(*) FROM clicks WHERE dataset_id = ? AND split = 'test') AS test,
      (SELECT COUNT(*) FROM words WHERE dataset_id = ?) AS words,
      (SELECT COUNT(*) FROM reviews WHERE dataset_id = ?) AS reviews`, ...Array<number>(8).fill(datasetId));
    expect(data.datasets).toHaveLength(1);
    const [dataset] = data.datasets;
    expect(dataset).toMatchObject({ id: String(datasetId), name: TEST_DATASET, source: "generated" });
    expect(dataset.statistics).toEqual({
      users: counts.users,
      items: counts.items,
      interactions: counts.clicks,
      sparsity: expect.closeTo(1 - counts.clicks / (counts.users * counts.items), 12),
      vocabularySize: counts.words,
      trainClicks: counts.train,
      validationClicks: counts.validation,
      testClicks: counts.test,
      reviews: counts.reviews,
    });
    expect(counts.users).toBe(150);
  });

  it("finds a dataset by name or id, and says which argument is wrong otherwise", async () => {
    expect((await query(`{ dataset(name: "${TEST_DATASET}") { id } }`)).dataset.id).toBe(String(datasetId));
    expect((await query(`{ dataset(id: ${datasetId}) { name } }`)).dataset.name).toBe(TEST_DATASET);
    const [missing] = await failing(`{ dataset(name: "nope") { id } }`);
    expect(missing!.extensions?.code).toBe("NOT_FOUND");
    expect(missing!.message).toContain('No dataset is named "nope"');
    const [both] = await failing(`{ dataset(name: "x", id: 1) { id } }`);
    expect(both!.extensions?.code).toBe("BAD_USER_INPUT");
    const [neither] = await failing(`{ dataset { id } }`);
    expect(neither!.extensions?.code).toBe("BAD_USER_INPUT");
    const [badId] = await failing(`{ dataset(id: "abc") { id } }`);
    expect(badId!.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("users connection", () => {
  const page = `query Page($first: Int!, $after: String, $orderBy: UserOrder! = ID, $direction: SortDirection! = ASC, $min: Int, $max: Int) {
    dataset(name: "${TEST_DATASET}") { users(first: $first, after: $after, orderBy: $orderBy, direction: $direction, minActivity: $min, maxActivity: $max) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id externalId trainClickCount } } } } }`;

  async function walk(variables: Record<string, unknown>) {
    const nodes: Array<{ id: string; trainClickCount: number }> = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const data: any = await query(page, { ...variables, after });
      const users: any = data.dataset.users;
      nodes.push(...users.edges.map((edge: any) => edge.node));
      pages += 1;
      expect(users.pageInfo.hasPreviousPage).toBe(after !== null);
      if (!users.pageInfo.hasNextPage) break;
      after = users.pageInfo.endCursor;
      expect(pages).toBeLessThan(50);
    }
    return { nodes, pages };
  }

  it("pages through every user by id exactly once, in order", async () => {
    const { nodes, pages } = await walk({ first: 40 });
    const expected = (await sql<{ id: number }>("SELECT id FROM users WHERE dataset_id = ? ORDER BY id", datasetId)).map((r) => String(r.id));
    expect(nodes.map((n) => n.id)).toEqual(expected);
    expect(pages).toBe(Math.ceil(150 / 40));
  });

  it("orders by training clicks descending, ties by id, the same across page boundaries", async () => {
    const { nodes } = await walk({ first: 7, orderBy: "ACTIVITY", direction: "DESC" });
    const expected = (await sql<{ id: number }>("SELECT id FROM users WHERE dataset_id = ? ORDER BY train_click_count DESC, id DESC", datasetId)).map((r) => String(r.id));
    expect(nodes.map((n) => n.id)).toEqual(expected);
  });

  it("filters by an inclusive range of training clicks, and totalCount counts the filtered list", async () => {
    const data = await query(page, { first: 100, orderBy: "ACTIVITY", min: 4, max: 6 });
    const [{ n }] = await sql("SELECT COUNT(*) AS n FROM users WHERE dataset_id = ? AND train_click_count BETWEEN 4 AND 6", datasetId);
    expect(n).toBeGreaterThan(0);
    expect(data.dataset.users.totalCount).toBe(n);
    expect(data.dataset.users.edges).toHaveLength(Math.min(n, 100));
    for (const edge of data.dataset.users.edges) expect(edge.node.trainClickCount).toBeGreaterThanOrEqual(4);
    for (const edge of data.dataset.users.edges) expect(edge.node.trainClickCount).toBeLessThanOrEqual(6);
    const [inverted] = await failing(page, { first: 5, min: 9, max: 3 });
    expect(inverted!.extensions?.code).toBe("BAD_USER_INPUT");
    expect(inverted!.message).toContain("minActivity (9) is greater than maxActivity (3)");
    const [negative] = await failing(page, { first: 5, min: -1 });
    expect(negative!.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("answers first: 0 with no edges, null cursors and whether rows exist", async () => {
    const users = (await query(page, { first: 0 })).dataset.users;
    expect(users).toMatchObject({
      totalCount: 150,
      edges: [],
      pageInfo: { hasNextPage: true, startCursor: null, endCursor: null },
    });
  });

  it("refuses first above 100 or below 0 with BAD_USER_INPUT and a sentence", async () => {
    for (const first of [101, 5000, -1]) {
      const [error] = await failing(page, { first });
      expect(error!.extensions?.code).toBe("BAD_USER_INPUT");
      expect(error!.message).toContain(`first must be an integer from 0 to 100, got ${first}`);
    }
  });

  it("returns an empty last page after the last cursor", async () => {
    const all = (await query(page, { first: 100, orderBy: "ACTIVITY" })).dataset.users;
    const rest = (await query(page, { first: 100, orderBy: "ACTIVITY", after: all.pageInfo.endCursor })).dataset.users;
    expect(rest.edges).toHaveLength(50);
    const end = (await query(page, { first: 10, orderBy: "ACTIVITY", after: rest.pageInfo.endCursor })).dataset.users;
    expect(end).toMatchObject({ edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: true, endCursor: null } });
  });

  it("refuses a damaged cursor, a foreign string and a cursor of another ordering", async () => {
    const first = (await query(page, { first: 2 })).dataset.users.pageInfo.endCursor as string;
    for (const after of ["not-a-cursor", Buffer.from('["vcm1","users:ID:ASC","x"]').toString("base64url"), "%%%"]) {
      const [error] = await failing(page, { first: 2, after });
      expect(error!.extensions?.code).toBe("BAD_USER_INPUT");
      expect(error!.message).toContain("pass the endCursor of a previous page");
    }
    const [other] = await failing(page, { first: 2, after: first, orderBy: "ACTIVITY" });
    expect(other!.extensions?.code).toBe("BAD_USER_INPUT");
    expect(other!.message).toContain("belongs to another list or ordering");
  });
});

describe("users, items, reviews and clicks", () => {
  it("finds a user by id and by external id, and answers NOT_FOUND or BAD_USER_INPUT otherwise", async () => {
    const [row] = await sql("SELECT id, external_id AS \"externalId\", train_click_count AS train FROM users WHERE dataset_id = ? ORDER BY id LIMIT 1 OFFSET 17", datasetId);
    const byId = await query(`{ user(id: ${row.id}) { externalId trainClickCount dataset { name } } }`);
    expect(byId.user).toEqual({ externalId: row.externalId, trainClickCount: row.train, dataset: { name: TEST_DATASET } });
    const byExternal = await query(`{ user(dataset: "${TEST_DATASET}", externalId: "${row.externalId}") { id } }`);
    expect(byExternal.user.id).toBe(String(row.id));
    const nested = await query(`{ dataset(name: "${TEST_DATASET}") { user(externalId: "${row.externalId}") { id } } }`);
    expect(nested.dataset.user.id).toBe(String(row.id));

    expect((await failing(`{ user(id: 999999) { id } }`))[0]!.extensions?.code).toBe("NOT_FOUND");
    const [unknown] = await failing(`{ user(dataset: "${TEST_DATASET}", externalId: "nobody") { id } }`);
    expect(unknown!.extensions?.code).toBe("NOT_FOUND");
    expect(unknown!.message).toContain('no user with external id "nobody"');
    expect((await failing(`{ user { id } }`))[0]!.extensions?.code).toBe("BAD_USER_INPUT");
    expect((await failing(`{ user(externalId: "u1") { id } }`))[0]!.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("pages a user's clicks filtered by split, and counts them", async () => {
    const [row] = await sql("SELECT id FROM users WHERE dataset_id = ? ORDER BY train_click_count DESC, id LIMIT 1", datasetId);
    const clicks = `query ($id: ID!, $after: String, $split: [Split!]) { user(id: $id) { clickCount
      clicks(first: 3, after: $after, split: $split) { totalCount pageInfo { hasNextPage endCursor } edges { node { id split item { id } user { id } } } } } }`;
    const expected = await sql<{ id: number; item_id: number }>(
      "SELECT id, item_id FROM clicks WHERE user_id = ? AND split IN ('train', 'test') ORDER BY id",
      row.id,
    );
    const seen: any[] = [];
    let after: string | null = null;
    for (let i = 0; i < 50; i += 1) {
      const data: any = await query(clicks, { id: row.id, after, split: ["TRAIN", "TEST"] });
      expect(data.user.clicks.totalCount).toBe(expected.length);
      seen.push(...data.user.clicks.edges.map((edge: any) => edge.node));
      if (!data.user.clicks.pageInfo.hasNextPage) break;
      after = data.user.clicks.pageInfo.endCursor;
    }
    expect(seen.map((click) => Number(click.id))).toEqual(expected.map((click) => click.id));
    expect(seen.map((click) => Number(click.item.id))).toEqual(expected.map((click) => click.item_id));
    expect(new Set(seen.map((click) => click.split))).toEqual(new Set(["TRAIN", "TEST"]));
    expect(new Set(seen.map((click) => click.user.id))).toEqual(new Set([String(row.id)]));
    const all = await query(clicks, { id: row.id });
    const [{ n }] = await sql("SELECT COUNT(*) AS n FROM clicks WHERE user_id = ?", row.id);
    expect(all.user.clickCount).toBe(n);
    expect(all.user.clicks.totalCount).toBe(n);
    const [empty] = await failing(clicks, { id: row.id, split: [] });
    expect(empty!.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("lists a user's reviews and an item's reviews", async () => {
    const [user] = await sql("SELECT user_id AS id, COUNT(*) AS n FROM reviews WHERE dataset_id = ? GROUP BY user_id ORDER BY n DESC LIMIT 1", datasetId);
    const data = await query(`{ user(id: ${user.id}) { reviews(first: 100) { totalCount edges { node { id text rating user { id } } } } } }`);
    expect(data.user.reviews.totalCount).toBe(user.n);
    expect(data.user.reviews.edges.length).toBe(Math.min(user.n, 100));
    expect(data.user.reviews.edges.every((edge: any) => edge.node.user.id === String(user.id) && edge.node.text.length > 0)).toBe(true);

    const [item] = await sql("SELECT i.id, i.external_id AS \"externalId\", COUNT(r.id) AS n FROM items i JOIN reviews r ON r.item_id = i.id WHERE i.dataset_id = ? GROUP BY i.id ORDER BY n DESC LIMIT 1", datasetId);
    const itemData = await query(`{ item(dataset: "${TEST_DATASET}", externalId: "${item.externalId}") { id clickCount trainClickCount
      reviews(first: 5) { totalCount edges { node { item { externalId } } } } } }`);
    expect(itemData.item.id).toBe(String(item.id));
    expect(itemData.item.reviews.totalCount).toBe(item.n);
    expect(itemData.item.reviews.edges).toHaveLength(Math.min(5, item.n));
    for (const edge of itemData.item.reviews.edges) expect(edge.node.item.externalId).toBe(item.externalId);
    expect((await failing(`{ item(id: 424242) { id } }`))[0]!.extensions?.code).toBe("NOT_FOUND");
  });

  it("orders items by popularity", async () => {
    const data = await query(`{ dataset(name: "${TEST_DATASET}") { items(first: 10, orderBy: POPULARITY, direction: DESC) { totalCount edges { node { id trainClickCount } } } } }`);
    const expected = await sql("SELECT id FROM items WHERE dataset_id = ? ORDER BY train_click_count DESC, id DESC LIMIT 10", datasetId);
    expect(data.dataset.items.edges.map((edge: any) => edge.node.id)).toEqual(expected.map((row: any) => String(row.id)));
    expect(data.dataset.items.totalCount).toBe(120);
  });

  it("loads nested lists of 50 users in a bounded number of SQL statements, not one per user", async () => {
    const nested = (first: number) => `{ dataset(name: "${TEST_DATASET}") { users(first: ${first}) { edges { node { id
      reviews(first: 3) { totalCount edges { node { id item { id externalId } } } }
      clicks(first: 4, split: [TRAIN]) { totalCount edges { node { item { id } } } } } } } } }`;
    const statements = countStatements(fixture.dataSource);
    try {
      await query(nested(5));
      const few = statements.count();
      const data = await query(nested(50));
      const many = statements.count() - few;
      expect(data.dataset.users.edges).toHaveLength(50);
      expect(data.dataset.users.edges.every((edge: any) => edge.node.clicks.edges.length > 0)).toBe(true);
      // dataset, users page, reviews page, review counts, clicks page, click counts, items: about 8.
      expect(many).toBeLessThanOrEqual(10);
      expect(many).toBe(few);
    } finally {
      statements.restore();
    }
  });
});

describe("models", () => {
  it("exposes trained-model rows: variant, config, status, metrics per mode and the training curve", async () => {
    const model = await insertTrainedModel(fixture.dataSource, { datasetId });
    const failed = await insertTrainedModel(fixture.dataSource, { datasetId, status: "failed", error: "Training was cancelled.", testMetrics: null, history: [] });
    const data = await query(`{ models(dataset: "${TEST_DATASET}") { id status }
      model(id: ${model.id}) { id variant config backend status bestEpoch secondsPerEpoch dataset { name }
        testMetrics { mode ndcgAt10 ndcgAt20 ndcgAt50 ndcgAt100 recallAt10 recallAt20 recallAt50 recallAt100 }
        cd: testMetrics(mode: VCM_CD) { ndcgAt10 } allTestMetrics { mode }
        trainingCurve { epoch beta reconX reconY klPriorX klPriorY klCrossX klCrossY valNdcg100 seconds } }
      ready: models(status: READY) { id }
      dataset(name: "${TEST_DATASET}") { models { id error } } }`);
    expect(data.models).toEqual([
      { id: String(failed.id), status: "FAILED" },
      { id: String(model.id), status: "READY" },
    ]);
    expect(data.ready).toEqual([{ id: String(model.id) }]);
    expect(data.dataset.models).toEqual([
      { id: String(failed.id), error: "Training was cancelled." },
      { id: String(model.id), error: null },
    ]);
    expect(data.model).toMatchObject({
      variant: "vcm",
      config: { latentDim: 16, epochs: 2 },
      backend: "wasm",
      status: "READY",
      bestEpoch: 2,
      secondsPerEpoch: 0.5,
      dataset: { name: TEST_DATASET },
      testMetrics: { mode: "VCM", ndcgAt10: 0.11, ndcgAt20: 0.12, ndcgAt50: 0.15, ndcgAt100: 0.2, recallAt10: 0.1, recallAt20: 0.2, recallAt50: 0.3, recallAt100: 0.4 },
      cd: null,
      allTestMetrics: [{ mode: "VCM" }],
    });
    expect(data.model.trainingCurve).toHaveLength(2);
    expect(data.model.trainingCurve[1]).toEqual({ epoch: 2, beta: 0.02, reconX: 38, reconY: 298, klPriorX: 1, klPriorY: 2, klCrossX: 0.5, klCrossY: 0.4, valNdcg100: 0.2, seconds: 0.5 });
    const [missing] = await failing(`{ model(id: 777) { id } }`);
    expect(missing!.extensions?.code).toBe("NOT_FOUND");
    expect((await failing(`{ models(dataset: "nope") { id } }`))[0]!.extensions?.code).toBe("NOT_FOUND");
  });
});
