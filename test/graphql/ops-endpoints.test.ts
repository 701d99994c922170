/**
 * /health, /ready and /metrics over real HTTP on a real SQLite database with a trained model (issue 26,
 * items 3 and 4): the metrics text, parsed, counts exactly the requests this test sent, by operation and
 * outcome code; engine passes and answer-cache hits follow recommendations asked twice; the model's
 * gauges are its stored test figures and, once a cohort analysis ran, its mean capacity; /metrics on
 * the main port needs the admin token, on the metrics port none; a stopping server's /ready says 503, and
 * one whose database fails with an error no classifier knows says so and logs that error.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAppConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { HeavyQueryGate } from "../../src/graphql/heavy-gate.ts";
import { metricsText } from "../../src/observability/metrics.ts";
import { createServer, createServerDeps, type VcmServer } from "../../src/server.ts";
import { DATABASE_PROBE_FAILED_REASON, SHUTTING_DOWN_REASON } from "../../src/services/readiness.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { CollectingLogger, createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";
import { TINY_CONFIG } from "./serve-process.ts";

const SMALL = { latentDim: 8, hiddenX: 32, hiddenY: 32, epochs: 2, batchSize: 50, annealSteps: 10, seed: 3 };
const TOKEN = "ops-admin-token-1234";

/** One sample of the text format: name, labels and value. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus's text format (the lines that are not comments). */
function parseMetrics(text: string): Sample[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
      return { name: match[1], labels, value: Number(match[3]) };
    });
}

/** The value of the one sample of `name` whose labels include `labels` (undefined when none). */
function valueOf(samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

let fixture: ApiFixture;
let guarded: VcmServer;
let base: string;
let guardedBase: string;
let metricsBase: string;
let modelId: number;

async function post(query: string, options: { operationName?: string; variables?: Record<string, unknown> } = {}): Promise<{ status: number; body: any; requestId: string | null }> {
  const response = await fetch(`${base}graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, ...options }) });
  return { status: response.status, body: await response.json(), requestId: response.headers.get("x-request-id") };
}

async function scrape(): Promise<Sample[]> {
  const response = await fetch(`${metricsBase}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return parseMetrics(await response.text());
}

beforeAll(async () => {
  fixture = await createApiFixture();
  modelId = (await trainAndSave({ dataSource: fixture.dataSource, dataset: TEST_DATASET, variant: "vcm", config: SMALL, modelsDir: fixture.config.modelsDir })).model.id;
  base = (await fixture.server.listen({ port: 0 })).url;
  metricsBase = `http://127.0.0.1:${(await fixture.server.listenMetrics({ port: 0 })).port}`;
  guarded = await createServer(createServerDeps({ dataSource: fixture.dataSource, config: { ...fixture.config, adminToken: TOKEN }, logger: fixture.logger }));
  guardedBase = (await guarded.listen({ port: 0 })).url;
}, 300_000);

afterAll(async () => {
  await guarded?.stop();
  await fixture?.close();
});

describe("health and readiness", () => {
  it("answers /health and /ready with 200 JSON while the database and the backend are up", async () => {
    await fixture.server.readiness.backendSettled();
    for (const [path, body] of [
      ["health", { status: "ok" }],
      ["ready", { status: "ready" }],
    ] as const) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toEqual(body);
    }
  });
});

describe("metrics", () => {
  it("counts the requests this test sent by operation name and outcome code, with their latencies", async () => {
    const before = await scrape();
    const count = (operation: string, code: string, samples: ReadonlyArray<Sample>) => valueOf(samples, "vcm_graphql_requests_total", { operation, code }) ?? 0;
    for (let i = 0; i < 3; i += 1) expect((await post("query Datasets { datasets { name } }")).body.errors).toBeUndefined();
    for (let i = 0; i < 2; i += 1) {
      const answer = await post("query Missing($name: String!) { dataset(name: $name) { name } }", { variables: { name: "nope" } });
      expect(answer.body.errors[0].extensions.code).toBe("NOT_FOUND");
      // The request id of the header is in the error's extensions too.
      expect(answer.body.errors[0].extensions.requestId).toBe(answer.requestId);
    }
    const invalid = await post("{ noSuchField }");
    expect(invalid.body.errors[0].extensions.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const after = await scrape();
    expect(count("Datasets", "OK", after) - count("Datasets", "OK", before)).toBe(3);
    expect(count("Missing", "NOT_FOUND", after) - count("Missing", "NOT_FOUND", before)).toBe(2);
    expect(count("anonymous", "GRAPHQL_VALIDATION_FAILED", after) - count("anonymous", "GRAPHQL_VALIDATION_FAILED", before)).toBe(1);
    const latencyCount = (samples: ReadonlyArray<Sample>) => valueOf(samples, "vcm_graphql_request_duration_seconds_count", { operation: "Datasets" }) ?? 0;
    expect(latencyCount(after) - latencyCount(before)).toBe(3);
    // Every request took some time and less than the largest bucket.
    expect(valueOf(after, "vcm_graphql_request_duration_seconds_bucket", { operation: "Datasets", le: "30" })).toBe(latencyCount(after));
    expect(valueOf(after, "vcm_graphql_request_duration_seconds_sum", { operation: "Datasets" })).toBeGreaterThan(0);
    // Process metrics and the gate's queue (empty now) are there.
    expect(valueOf(after, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(valueOf(after, "vcm_heavy_query_queue_depth")).toBe(0);
  });

  it("counts engine passes by kind and answers served from the recent answers", async () => {
    const query = `query Recs($model: ID!) { dataset(name: "${TEST_DATASET}") { users(first: 5) { edges { node { recommendations(modelId: $model, k: 5) { rank } } } } } }`;
    const before = await scrape();
    expect((await post(query, { variables: { model: String(modelId) } })).body.errors).toBeUndefined();
    const between = await scrape();
    expect((await post(query, { variables: { model: String(modelId) } })).body.errors).toBeUndefined();
    const after = await scrape();
    const passes = (samples: ReadonlyArray<Sample>) => samples.filter((s) => s.name === "vcm_engine_pass_seconds_count").reduce((sum, s) => sum + s.value, 0);
    const hits = (samples: ReadonlyArray<Sample>) => samples.filter((s) => s.name === "vcm_answer_cache_hits_total").reduce((sum, s) => sum + s.value, 0);
    // The first asking ran the engine for the 5 users (in one pass per kind); the second ran nothing and hit 5 recent answers.
    expect(passes(between) - passes(before)).toBeGreaterThanOrEqual(1);
    expect(passes(after) - passes(between)).toBe(0);
    expect(hits(after) - hits(between)).toBeGreaterThanOrEqual(5);
    const kinds = new Set(after.filter((s) => s.name === "vcm_engine_pass_seconds_count").map((s) => s.labels.kind));
    expect(kinds.size).toBeGreaterThan(0);
    for (const kind of kinds) expect(valueOf(after, "vcm_engine_pass_seconds_sum", { kind })).toBeGreaterThan(0);
  });

  it("gives each ready model's stored NDCG@10 and Recall@20, and its mean capacity once a cohort analysis has evaluated it", async () => {
    const labels = { model: String(modelId), variant: "vcm", dataset: TEST_DATASET };
    const stored = (await fixture.server.deps.catalog.modelsByIds([modelId]))[0].testMetrics!.vcm;
    const first = await scrape();
    expect(valueOf(first, "vcm_model_test_ndcg_at_10", labels)).toBeCloseTo(stored["ndcg@10"], 12);
    expect(valueOf(first, "vcm_model_test_recall_at_20", labels)).toBeCloseTo(stored["recall@20"], 12);
    // Never evaluated on this server: no capacity, and the scrape did not start an evaluation.
    expect(valueOf(first, "vcm_model_mean_capacity", labels)).toBeUndefined();
    expect(valueOf(await scrape(), "vcm_model_mean_capacity", labels)).toBeUndefined();
    const cohorts = await post(`query Cohorts($model: ID!) { cohorts(modelId: $model) { testUsers } }`, { variables: { model: String(modelId) } });
    expect(cohorts.body.errors).toBeUndefined();
    const evaluation = await fixture.server.deps.prediction!.cohorts.evaluation(modelId);
    const finite = [...evaluation.capacity].filter(Number.isFinite);
    expect(finite.length).toBeGreaterThan(0);
    expect(valueOf(await scrape(), "vcm_model_mean_capacity", labels)).toBeCloseTo(finite.reduce((s, v) => s + v, 0) / finite.length, 9);
  });

  it("counts the rows this process ingested and appended, and the large-query gate's refusals", async () => {
    const samples = await scrape();
    const dataset = (await fixture.server.deps.catalog.datasetsByNames([TEST_DATASET]))[0];
    expect(valueOf(samples, "vcm_rows_written_total", { operation: "ingest", table: "clicks" })).toBe(dataset.clickCount);
    const appended = await post(`mutation { appendInteractions(dataset: "${TEST_DATASET}", records: [{ user: "metrics-newcomer", item: "metrics-new-item" }]) { clicksAdded reviewsAdded } }`);
    expect(appended.body.data.appendInteractions).toEqual({ clicksAdded: 1, reviewsAdded: 0 });
    expect(valueOf(parseMetrics(await metricsText()), "vcm_rows_written_total", { operation: "append", table: "clicks" })).toBe(1);
    const refusals = (s: ReadonlyArray<Sample>) => valueOf(s, "vcm_heavy_query_refusals_total") ?? 0;
    const gate = new HeavyQueryGate({ concurrency: 1, maxQueue: 0 });
    const release = await gate.enter();
    await expect(gate.enter()).rejects.toMatchObject({ extensions: { code: "SERVER_BUSY" } });
    release();
    expect(refusals(parseMetrics(await metricsText())) - refusals(samples)).toBe(1);
  });

  it("counts jobs by kind and state from the database", async () => {
    const jobs = (samples: ReadonlyArray<Sample>, state: string) => valueOf(samples, "vcm_jobs", { kind: "training", state }) ?? 0;
    const before = await scrape();
    const started = await post(`mutation Train($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      variables: { input: { dataset: TEST_DATASET, variant: "VCM", hyperParameters: { ...TINY_CONFIG, epochs: 1 } } },
    });
    expect(started.body.errors).toBeUndefined();
    let status = "";
    for (let i = 0; i < 1200 && !["SUCCEEDED", "FAILED", "CANCELLED"].includes(status); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await post(`query Job($id: ID!) { trainingJob(id: $id) { status } }`, { variables: { id: started.body.data.startTraining.id } })).body.data.trainingJob.status;
    }
    expect(status).toBe("SUCCEEDED");
    const after = await scrape();
    expect(jobs(after, "succeeded") - jobs(before, "succeeded")).toBe(1);
    expect(jobs(after, "running")).toBe(0);
  }, 180_000);

  it("reads /metrics on the main port only with the admin token, and on the metrics port without one", async () => {
    const without = await fetch(`${guardedBase}metrics`);
    expect(without.status).toBe(401);
    expect(((await without.json()) as { errors: unknown[] }).errors[0]).toMatchObject({ extensions: { code: "UNAUTHENTICATED" }, message: expect.stringContaining("--metrics-port") });
    expect((await fetch(`${guardedBase}metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const withToken = await fetch(`${guardedBase}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toContain("vcm_graphql_requests_total");
    // /health and /ready stay open for a load balancer.
    expect((await fetch(`${guardedBase}ready`)).status).toBe(200);
    expect((await fetch(`${metricsBase}/graphql`)).status).toBe(404);
  });
});

describe("shutting down", () => {
  it("answers /ready 503 with its reason from the moment stop() begins", async () => {
    const server = await createServer(createServerDeps({ dataSource: fixture.dataSource, config: fixture.config, logger: fixture.logger }));
    const { port } = await server.listen({ port: 0 });
    const ready = `http://127.0.0.1:${(await server.listenMetrics({ port: 0 })).port}/ready`;
    await server.readiness.backendSettled();
    expect((await fetch(ready)).status).toBe(200);
    // A request whose body never ends keeps stop() waiting for it, while the metrics port still answers.
    const socket = net.connect({ port, host: "127.0.0.1" });
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = server.stop();
    const response = await fetch(ready);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "not ready", reason: SHUTTING_DOWN_REASON });
    socket.destroy();
    await stopping;
  });
});

describe("a readiness probe the database fails", () => {
  it("answers /ready 503 pointing at the log, and the log has the database's error", async () => {
    // A database of its own (and models folder), so closing it leaves the other tests' server alone.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-ready-error-"));
    const dbPath = path.join(dir, "closed.sqlite");
    const dataSource = await openDatabase(dbPath);
    const logger = new CollectingLogger();
    const server = await createServer(createServerDeps({ dataSource, config: loadAppConfig({ dbPath, modelsDir: path.join(dir, "models") }, {}), logger }));
    try {
      const ready = `${(await server.listen({ port: 0 })).url}ready`;
      await server.readiness.backendSettled();
      expect((await fetch(ready)).status).toBe(200);
      // better-sqlite3's closed connection is an error that means neither "unavailable" nor "busy".
      await dataSource.destroy();
      const response = await fetch(ready);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: "not ready", reason: DATABASE_PROBE_FAILED_REASON });
      expect(logger.entries).toEqual([{ message: "readiness probe failed", error: expect.objectContaining({ message: "The database connection is not open" }) }]);
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
