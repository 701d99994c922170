/**
 * The server over real HTTP on an ephemeral port: the GraphQL endpoint, the offline IDE's files,
 * malformed requests, and the admin-token rule for mutations.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import { MAX_BODY_BYTES } from "../../src/server.ts";
import { createApiFixture, insertTrainedModel, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const TOKEN = "s3cret-admin-token";
let secured: ApiFixture;
let open: ApiFixture;
let securedUrl: string;
let openUrl: string;

async function post(base: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text), requestId: response.headers.get("x-request-id") };
}

beforeAll(async () => {
  secured = await createApiFixture({ adminToken: TOKEN });
  open = await createApiFixture();
  securedUrl = (await secured.server.listen({ port: 0 })).url;
  openUrl = (await open.server.listen({ port: 0 })).url;
});

afterAll(async () => {
  await secured?.close();
  await open?.close();
});

describe("GraphQL over HTTP", () => {
  it("answers a POSTed query and a GET query", async () => {
    const posted = await post(securedUrl, { query: "{ datasets { name statistics { users } } }" });
    expect(posted.status).toBe(200);
    expect(posted.json).toEqual({ data: { datasets: [{ name: TEST_DATASET, statistics: { users: 150 } }] } });
    const query = encodeURIComponent("{ datasets { name } }");
    // Apollo's CSRF prevention wants a header a browser form cannot send on a GET.
    const got = await fetch(`${securedUrl}graphql?query=${query}`, { headers: { "apollo-require-preflight": "true" } });
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual({ data: { datasets: [{ name: TEST_DATASET }] } });
  });

  it("answers errors with their codes and HTTP statuses, never a stack trace", async () => {
    const notFound = await post(securedUrl, { query: '{ dataset(name: "missing") { id } }' });
    expect(notFound.status).toBe(200);
    // Each error carries the request's id, as the x-request-id header does (issue 26, item 6).
    expect(notFound.json.errors[0].extensions).toEqual({ code: "NOT_FOUND", requestId: notFound.requestId });
    let deep = "id";
    for (let i = 0; i < 5; i += 1) deep = `reviews(first: 1) { edges { node { user { ${deep} } } } }`;
    const tooDeep = await post(securedUrl, { query: `{ user(id: 1) { ${deep} } }` });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.json.errors[0].extensions).toEqual({ code: "BAD_USER_INPUT", requestId: tooDeep.requestId });
    const big = await post(securedUrl, { query: `{ dataset(name: "${TEST_DATASET}") { users(first: 500) { totalCount } } }` });
    expect(big.json.errors[0].extensions).toEqual({ code: "BAD_USER_INPUT", requestId: big.requestId });
    for (const text of [notFound.text, tooDeep.text, big.text]) expect(text).not.toMatch(/stacktrace|at .*\.ts:\d+/);
  });

  it("refuses a body that is not JSON, and one over the size limit", async () => {
    const broken = await post(securedUrl, "{ not json");
    expect(broken.status).toBe(400);
    expect(broken.json.errors[0]).toEqual({ message: "The request body is not valid JSON.", extensions: { code: "BAD_REQUEST", requestId: broken.requestId } });
    const huge = await post(securedUrl, { query: `{ datasets { name } }`, variables: { pad: "x".repeat(MAX_BODY_BYTES) } });
    expect(huge.status).toBe(413);
  });

  it("answers hostile documents with a sentence, never an internal error", async () => {
    const cases: Array<[string, string, string | RegExp]> = [
      ["subscription { trainingJobUpdated(id: 1) { status } }", "BAD_USER_INPUT", /^Subscriptions are served over WebSocket/],
      [`{ datasets(x: ${"[".repeat(5000)}1${"]".repeat(5000)}) { id } }`, "BAD_USER_INPUT", "This document nests brackets deeper than 200 levels; no query needs that many, so flatten it."],
      [`{ ${Array.from({ length: 600 }, (_, i) => `a${i}: datasets { id name }`).join(" ")} }`, "BAD_USER_INPUT", "This query selects 1800 fields, above the limit of 1000; split it into several queries."],
      [`{ ${Array.from({ length: 2000 }, (_, i) => `a${i}: datasets { id }`).join(" ")} }`, "GRAPHQL_PARSE_FAILED", /more that 5000 tokens/],
    ];
    for (const [query, code, message] of cases) {
      const answer = await post(openUrl, { query });
      expect(answer.status, query.slice(0, 40)).toBe(400);
      expect(answer.json.errors[0].extensions.code).toBe(code);
      expect(answer.json.errors[0].message).toMatch(message);
    }
    // Brackets inside strings and comments do not count; a normal query still runs.
    const fine = await post(openUrl, { query: `# ${"[".repeat(300)}\n{ datasets { name } }` });
    expect(fine.json).toEqual({ data: { datasets: [{ name: TEST_DATASET }] } });
  });

  it("closes the connection after a 413, so the client's next request on a kept-alive socket is answered", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (body: string): Promise<{ status: number; connection: string | undefined; text: string }> =>
      new Promise((resolve, reject) => {
        const request = http.request(`${openUrl}graphql`, { method: "POST", agent, headers: { "content-type": "application/json" } }, (response) => {
          let text = "";
          response.on("data", (chunk) => (text += chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, text }));
        });
        request.on("error", reject);
        request.end(body);
      });
    try {
      const huge = await send(JSON.stringify({ query: "{ datasets { name } }", variables: { pad: "x".repeat(2 * MAX_BODY_BYTES) } }));
      expect(huge.status).toBe(413);
      expect(huge.connection).toBe("close");
      expect(JSON.parse(huge.text).errors[0].message).toBe(`The request body is over ${MAX_BODY_BYTES} bytes; send a smaller query.`);
      for (let i = 0; i < 3; i += 1) {
        const next = await send(JSON.stringify({ query: "{ datasets { name } }" }));
        expect(next.status).toBe(200);
        expect(JSON.parse(next.text)).toEqual({ data: { datasets: [{ name: TEST_DATASET }] } });
      }
    } finally {
      agent.destroy();
    }
  });
});

describe("the offline IDE", () => {
  it("serves GraphiQL's page at / and at /graphql for a browser, with its files from node_modules", async () => {
    for (const [path, headers] of [["", {}], ["graphql", { accept: "text/html,application/xhtml+xml" }]] as const) {
      const page = await fetch(`${securedUrl}${path}`, { headers });
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      const html = await page.text();
      for (const file of ["react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "graphiql.min.css", "start.js"]) {
        expect(html).toContain(`/ide/${file}`);
      }
      expect(html).not.toMatch(/https?:\/\//);
    }
    const script = await fetch(`${securedUrl}ide/graphiql.min.js`);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
    const css = await fetch(`${securedUrl}ide/graphiql.min.css`);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect(await (await fetch(`${securedUrl}ide/start.js`)).text()).toContain("GraphiQL.createFetcher");
  });

  it("serves no file outside its fixed list", async () => {
    for (const path of ["ide/package.json", "ide/..%2F..%2Fpackage.json", "ide/", "elsewhere"]) {
      const response = await fetch(`${securedUrl}${path}`);
      expect(response.status).toBe(404);
      expect(((await response.json()) as any).errors[0].extensions.code).toBe("NOT_FOUND");
    }
  });
});

describe("admin token for mutations", () => {
  it("refuses a mutation without the token, or with a wrong one, with UNAUTHENTICATED and HTTP 401", async () => {
    const model = await insertTrainedModel(secured.dataSource, { datasetId: 1 });
    const mutation = { query: `mutation { deleteModel(id: "${model.id}") }` };
    const missing = await post(securedUrl, mutation);
    expect(missing.status).toBe(401);
    expect(missing.json.errors[0]).toEqual({
      message: 'A mutation needs an "Authorization: Bearer <token>" header with an admin API key or this server\'s VCM_ADMIN_TOKEN.',
      extensions: { code: "UNAUTHENTICATED", requestId: missing.requestId },
    });
    const wrong = await post(securedUrl, mutation, { authorization: "Bearer nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.json.errors[0].message).toContain("not this server's VCM_ADMIN_TOKEN");
    const stillThere = await secured.dataSource.getRepository(TrainedModel).findOneBy({ id: model.id });
    expect(stillThere).not.toBeNull();

    const allowed = await post(securedUrl, mutation, { authorization: `Bearer ${TOKEN}` });
    expect(allowed.status).toBe(200);
    expect(allowed.json).toEqual({ data: { deleteModel: String(model.id) } });
    expect(await secured.dataSource.getRepository(TrainedModel).findOneBy({ id: model.id })).toBeNull();
  });

  it("lets queries through without the token", async () => {
    const response = await post(securedUrl, { query: "{ models { id } }" });
    expect(response.status).toBe(200);
    expect(response.json.errors).toBeUndefined();
  });

  it("applies the same rule in-process (executeOperation with and without the header)", async () => {
    const model = await insertTrainedModel(secured.dataSource, { datasetId: 1 });
    const request = { query: `mutation { deleteModel(id: "${model.id}") }` };
    const without = await secured.server.execute(request);
    expect(without.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const withToken = await secured.server.execute(request, { authorization: `Bearer ${TOKEN}` });
    expect(withToken.errors).toBeUndefined();
    expect(withToken.data).toEqual({ deleteModel: String(model.id) });
  });

  it("needs no token when VCM_ADMIN_TOKEN is not set", async () => {
    const model = await insertTrainedModel(open.dataSource, { datasetId: 1 });
    const response = await post(openUrl, { query: `mutation { deleteModel(id: "${model.id}") }` });
    expect(response.json).toEqual({ data: { deleteModel: String(model.id) } });
  });
});

describe("@Authorized() fields", () => {
  it("apply the same rule through the schema's authChecker", async () => {
    const { adminAuthChecker } = await import("../../src/graphql/auth.ts");
    const info = { parentType: { name: "Query" }, fieldName: "secret" } as any;
    const call = (authorization?: string) =>
      adminAuthChecker({ context: secured.server.createContext(authorization), info, root: {}, args: {} }, []);
    expect(() => call()).toThrow('The field Query.secret needs an "Authorization: Bearer <token>" header');
    expect(() => call("Bearer wrong")).toThrow("with an admin API key or this server's VCM_ADMIN_TOKEN");
    expect(call(`Bearer ${TOKEN}`)).toBe(true);
    expect(adminAuthChecker({ context: open.server.createContext(), info, root: {}, args: {} }, [])).toBe(true);
  });
});
