/**
 * Persisted operations (issue 26, item 8): the committed manifest is exactly what the dashboard sends
 * (a stale one fails here, naming the npm script), the extraction refuses documents whose text is not
 * what the page sends, and `--persisted-only` over real HTTP and WebSocket servers: an analyst key's or
 * an open read's ad-hoc query is refused with PERSISTED_QUERY_ONLY and the sentence before anything
 * runs, a registered operation runs by its text or by its id alone, an admin key's ad-hoc query and
 * subscription run; the `vcm serve --persisted-only` process applies the same rule.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operationId, PERSISTED_ONLY_MESSAGE, PERSISTED_OPERATIONS_FILE, PersistedOperations, type PersistedManifest } from "../../src/graphql/persisted-operations.ts";
import { DASHBOARD_DIR, DASHBOARD_MODULES } from "../../src/graphql/dashboard.ts";
import { createApiKey } from "../../src/services/api-keys.ts";
import { committedSchema, dashboardManifest, extractOperations, renderManifest } from "../../scripts/persisted-operations.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";
import { serveProcess } from "./serve-process.ts";

const committed = (): PersistedManifest => JSON.parse(fs.readFileSync(PERSISTED_OPERATIONS_FILE, "utf8")) as PersistedManifest;
const bodyOf = (name: string): string => committed().operations.find((o) => o.name === name)!.body;

describe("the dashboard's persisted-operation manifest", () => {
  it("equals what the dashboard sends (run `npm run persisted-operations` after changing a dashboard query)", () => {
    const text = fs.readFileSync(PERSISTED_OPERATIONS_FILE, "utf8");
    expect(text, "src/graphql/dashboard/persisted-operations.json is stale: run `npm run persisted-operations` and commit it").toBe(renderManifest(dashboardManifest()));
    const manifest = committed();
    // Every module's documents: the shell's and each view's.
    expect(manifest.operations.map((o) => o.name)).toEqual([
      "DashboardCohorts", "DashboardCompareModels", "DashboardDatasetModels", "DashboardExperiment", "DashboardExperimentFigures", "DashboardExperiments",
      "DashboardItem", "DashboardItemAudience", "DashboardItems", "DashboardItemWords", "DashboardSearch", "DashboardShell", "DashboardUser", "DashboardUserModel", "DashboardUserRanking", "DashboardUsers", "DashboardWhatIf",
    ]);
    for (const operation of manifest.operations) expect(operation.id).toBe(operationId(operation.body));
  });

  it("reads every module of the dashboard's folder: the served list and the folder's scripts are the same", () => {
    const scripts = fs.readdirSync(DASHBOARD_DIR).filter((name) => name.endsWith(".js"));
    expect([...DASHBOARD_MODULES].sort()).toEqual(scripts.sort());
  });

  it("refuses a document with ${…}, without a name, with two operations, or that the schema does not have", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-persisted-"));
    const schema = committedSchema();
    const extract = (code: string): PersistedManifest => {
      const file = path.join(dir, "page.js");
      fs.writeFileSync(file, code);
      return extractOperations({ files: [file], schema });
    };
    try {
      expect(extract("var Q = /* GraphQL */ `query Names { datasets { name } }`;").operations).toEqual([
        { id: operationId("query Names { datasets { name } }"), name: "Names", type: "query", body: "query Names { datasets { name } }" },
      ]);
      expect(() => extract("var F = 'name'; var Q = /* GraphQL */ `query Names { datasets { ${F} } }`;")).toThrow(/no \$\{…\} and no backslash escapes/);
      expect(() => extract("var Q = /* GraphQL */ `{ datasets { name } }`;")).toThrow(/exactly one operation, with a name/);
      expect(() => extract("var Q = /* GraphQL */ `query A { datasets { name } } query B { datasets { name } }`;")).toThrow(/exactly one operation, with a name/);
      expect(() => extract("var Q = /* GraphQL */ `query Names { datasets { nickname } }`;")).toThrow(/does not match schema\/schema.graphql: Cannot query field "nickname"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a manifest whose id is not its body's hash is refused at start", () => {
    const manifest: PersistedManifest = { format: "apollo-persisted-query-manifest", version: 1, operations: [{ id: operationId("x"), name: "A", type: "query", body: "query A { datasets { name } }" }] };
    expect(() => new PersistedOperations({ manifest, only: true })).toThrow(/its id is not the SHA-256 of its body/);
  });
});

describe("--persisted-only over HTTP and WebSocket", () => {
  let fixture: ApiFixture;
  let url: string;
  let analyst: string;
  let admin: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    fixture = await createApiFixture({ persistedOnly: true });
    analyst = (await createApiKey(fixture.dataSource, { name: "analyst", role: "analyst" })).key;
    admin = (await createApiKey(fixture.dataSource, { name: "admin", role: "admin" })).key;
    url = `${(await fixture.server.listen({ port: 0 })).url}graphql`;
  }, 60_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await fixture?.close();
  });

  async function post(body: unknown, key?: string, endpoint = url): Promise<{ status: number; json: any }> {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() };
  }

  const refused = (answer: { status: number; json: any }): void => {
    expect(answer.status).toBe(403);
    expect(answer.json.data).toBeUndefined();
    expect(answer.json.errors).toHaveLength(1);
    expect(answer.json.errors[0].message).toBe(PERSISTED_ONLY_MESSAGE);
    expect(answer.json.errors[0].extensions.code).toBe("PERSISTED_QUERY_ONLY");
  };

  it("refuses an analyst key's and an open read's ad-hoc query, by text, by an unregistered id, over GET too", async () => {
    refused(await post({ query: "{ datasets { name } }" }, analyst));
    refused(await post({ query: "{ datasets { name } }" }));
    refused(await post({ query: "{ __schema { types { name } } }" }, analyst));
    // A registered operation with one more space is another document.
    refused(await post({ query: `${bodyOf("DashboardShell")} `, variables: {} }, analyst));
    refused(await post({ extensions: { persistedQuery: { version: 1, sha256Hash: operationId("{ datasets { name } }") } } }, analyst));
    const get = await fetch(`${url}?query=${encodeURIComponent("{ datasets { name } }")}`, { headers: { authorization: `Bearer ${analyst}` } });
    refused({ status: get.status, json: await get.json() });
  });

  it("runs the dashboard's registered operations for an analyst key: by their text, and by their id alone", async () => {
    const byText = await post({ query: bodyOf("DashboardDatasetModels"), variables: { n: TEST_DATASET } }, analyst);
    expect(byText.status).toBe(200);
    expect(byText.json).toEqual({ data: { dataset: { name: TEST_DATASET, models: [] } } });
    const id = operationId(bodyOf("DashboardShell"));
    const byId = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: id } } }, analyst);
    expect(byId.status).toBe(200);
    expect(byId.json).toEqual({ data: { datasets: [{ name: TEST_DATASET, models: [] }], modelAliases: [] } });
    const open = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: id } } });
    expect(open.json.data.datasets[0].name).toBe(TEST_DATASET);
    const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: operationId(bodyOf("DashboardDatasetModels")) } });
    const get = await fetch(`${url}?extensions=${encodeURIComponent(extensions)}&variables=${encodeURIComponent(JSON.stringify({ n: TEST_DATASET }))}`, { headers: { authorization: `Bearer ${analyst}`, "apollo-require-preflight": "true" } });
    expect([get.status, await get.json()]).toEqual([200, { data: { dataset: { name: TEST_DATASET, models: [] } } }]);
  });

  it("runs an admin key's ad-hoc query", async () => {
    const answer = await post({ query: "{ datasets { name statistics { users } } }" }, admin);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ data: { datasets: [{ name: TEST_DATASET, statistics: { users: 150 } }] } });
  });

  it("over WebSocket: an analyst's ad-hoc subscription is refused with the sentence, an admin's runs", async () => {
    const subscribe = async (key: string): Promise<ReadonlyArray<{ message: string; extensions?: { code?: string } }>> => {
      const client = createClient({ url: url.replace(/^http/, "ws"), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
      try {
        return await new Promise((resolve, reject) => {
          client.subscribe(
            { query: "subscription ($id: ID!) { trainingJobUpdated(id: $id) { status } }", variables: { id: "999" } },
            { next: (message) => resolve(message.errors ?? []), error: (error) => (Array.isArray(error) ? resolve(error) : reject(error)), complete: () => resolve([]) },
          );
        });
      } finally {
        await client.dispose();
      }
    };
    const analystErrors = await subscribe(analyst);
    expect(analystErrors.map((e) => [e.extensions?.code, e.message])).toEqual([["PERSISTED_QUERY_ONLY", PERSISTED_ONLY_MESSAGE]]);
    // The admin's subscription ran: it is told the job does not exist, not that it is unregistered.
    const adminErrors = await subscribe(admin);
    expect(adminErrors.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
  });

  it("`vcm serve --persisted-only` applies the rule, and a server without it runs the analyst's ad-hoc query", async () => {
    const env = { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_DB: fixture.dbPath, VCM_MODELS_DIR: fixture.config.modelsDir, VCM_LOG_LEVEL: "silent" };
    const strict = await serveProcess(env, children, ["--persisted-only"]);
    expect(strict.stderr()).toContain(`--persisted-only: analyst keys and reads without a key run only the ${committed().operations.length} registered operations of the dashboard; admin keys run any.`);
    refused(await post({ query: "{ datasets { name } }" }, analyst, strict.url));
    expect((await post({ query: bodyOf("DashboardDatasetModels"), variables: { n: TEST_DATASET } }, analyst, strict.url)).json.data.dataset.name).toBe(TEST_DATASET);
    expect((await post({ query: "{ datasets { name } }" }, admin, strict.url)).json).toEqual({ data: { datasets: [{ name: TEST_DATASET }] } });
    const plain = await serveProcess(env, children);
    expect((await post({ query: "{ datasets { name } }" }, analyst, plain.url)).json).toEqual({ data: { datasets: [{ name: TEST_DATASET }] } });
  }, 60_000);
});
