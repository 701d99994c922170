/**
 * OpenTelemetry traces (issue 26, item 5), caught with the SDK's InMemorySpanExporter: off by default
 * (the API's no-op tracer records nothing) and switched on only by the OTEL_* variables; when on, a
 * GraphQL request over real HTTP is one trace whose root span is named after its operation, with the
 * catalog's statement groups and the engine's passes inside it; a training job is a span of its own.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm } from "../cli/run-vcm.ts";
import { loadAppConfig } from "../../src/config.ts";
import { inSpan, startTracing, type Tracing } from "../../src/observability/tracing.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "../graphql/api-fixture.ts";
import { serveProcess, sleep, TINY_CONFIG } from "../graphql/serve-process.ts";

describe("traces off", () => {
  it("are off unless the OTEL_* variables ask for OTLP", () => {
    const wanted = (env: NodeJS.ProcessEnv) => loadAppConfig({}, env).otlpTraces;
    expect(wanted({})).toBe(false);
    expect(wanted({ OTEL_TRACES_EXPORTER: "otlp" })).toBe(true);
    expect(wanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(wanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(true);
    expect(wanted({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(false);
    expect(wanted({ OTEL_TRACES_EXPORTER: "otlp", OTEL_SDK_DISABLED: "true" })).toBe(false);
  });

  it("sample the share of requests OTEL_TRACES_SAMPLER asks for", async () => {
    const ratio = (env: NodeJS.ProcessEnv) => loadAppConfig({}, env).traceSampleRatio;
    expect(ratio({})).toBe(1);
    expect(ratio({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" })).toBe(0.25);
    expect(ratio({ OTEL_TRACES_SAMPLER: "always_off" })).toBe(0);
    expect(() => ratio({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" })).toThrow('OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "2"');
    const exporter = new InMemorySpanExporter();
    const none = startTracing({ exporter, sampleRatio: 0 });
    try {
      expect(await inSpan({ name: "unsampled" }, async (span) => span.isRecording())).toBe(false);
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await none.stop();
    }
  });

  it("give spans that record nothing while no provider is registered", async () => {
    expect(await inSpan({ name: "probe" }, async (span) => span.isRecording())).toBe(false);
  });
});

describe("traces on", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let fixture: ApiFixture;
  let base: string;
  let modelId: number;

  beforeAll(async () => {
    tracing = startTracing({ exporter });
    fixture = await createApiFixture();
    modelId = (await trainAndSave({ dataSource: fixture.dataSource, dataset: TEST_DATASET, variant: "vcm", config: { ...TINY_CONFIG, epochs: 1, seed: 3 }, modelsDir: fixture.config.modelsDir })).model.id;
    base = (await fixture.server.listen({ port: 0 })).url;
  }, 300_000);

  afterAll(async () => {
    await fixture?.close();
    await tracing?.stop();
  });

  async function post(query: string, variables: Record<string, unknown> = {}): Promise<{ body: any; requestId: string | null }> {
    const response = await fetch(`${base}graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
    return { body: await response.json(), requestId: response.headers.get("x-request-id") };
  }

  /** The spans of one trace, and whether `span` descends from `root` in it. */
  function descends(spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan, root: ReadableSpan): boolean {
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    for (let at: ReadableSpan | undefined = span; at !== undefined; at = byId.get(at.parentSpanContext?.spanId ?? "")) {
      if (at === root) return true;
    }
    return false;
  }

  it("makes one trace per GraphQL request, named after its operation, with its statement groups and engine passes inside", async () => {
    exporter.reset();
    const answer = await post(`query Recs($model: ID!) { dataset(name: "${TEST_DATASET}") { users(first: 4) { edges { node { externalId recommendations(modelId: $model, k: 3) { rank } } } } } }`, {
      model: String(modelId),
    });
    expect(answer.body.errors).toBeUndefined();
    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === "graphql query Recs");
    expect(roots).toHaveLength(1);
    const root = roots[0];
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({ "graphql.operation.name": "Recs", "graphql.operation.type": "query", "vcm.request_id": answer.requestId, "vcm.outcome": "OK" });
    const inTrace = spans.filter((s) => s.spanContext().traceId === root.spanContext().traceId);
    const statements = inTrace.filter((s) => s.name.startsWith("db catalog."));
    const passes = inTrace.filter((s) => s.name.startsWith("engine "));
    expect(statements.map((s) => s.name)).toEqual(expect.arrayContaining(["db catalog.datasetsByNames", "db catalog.pageUsers"]));
    expect(passes.length).toBeGreaterThan(0);
    for (const span of [...statements, ...passes]) expect(descends(inTrace, span, root)).toBe(true);
    for (const pass of passes) expect(pass.attributes["vcm.engine.kind"]).toBe(pass.name.slice("engine ".length));
  });

  it("marks a failed request's span with its code", async () => {
    exporter.reset();
    const answer = await post(`query Missing { dataset(name: "nope") { name } }`);
    expect(answer.body.errors[0].extensions.code).toBe("NOT_FOUND");
    const root = exporter.getFinishedSpans().find((s) => s.name === "graphql query Missing");
    expect(root?.attributes["vcm.outcome"]).toBe("NOT_FOUND");
  });

  it("gives a training job a span from its worker's start to its exit", async () => {
    exporter.reset();
    const started = await post(`mutation Train($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      input: { dataset: TEST_DATASET, variant: "VCM", hyperParameters: { ...TINY_CONFIG, epochs: 1 } },
    });
    expect(started.body.errors).toBeUndefined();
    const id = started.body.data.startTraining.id as string;
    let job: { id: string; status: string } | undefined;
    for (let i = 0; i < 1200 && !["SUCCEEDED", "FAILED", "CANCELLED"].includes(job?.status ?? ""); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = (await post(`query Job($id: ID!) { trainingJob(id: $id) { id status } }`, { id })).body.data.trainingJob;
    }
    expect(job?.status).toBe("SUCCEEDED");
    let span: ReadableSpan | undefined;
    for (let i = 0; i < 50 && span === undefined; i += 1) {
      span = exporter.getFinishedSpans().find((s) => s.name === "job training job");
      if (span === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(span?.attributes).toMatchObject({ "vcm.job.kind": "training job", "vcm.job.id": Number(id), "vcm.job.exit_code": 0 });
  }, 180_000);
});

describe("traces over OTLP from a real vcm serve", () => {
  it("sends the spans of a request to OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const received: Array<{ path: string; body: string }> = [];
    const collector = http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        received.push({ path: request.url ?? "", body });
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-otlp-"));
    const children: ChildProcess[] = [];
    try {
      const env = {
        ...process.env,
        VCM_ADMIN_TOKEN: "",
        PORT: "",
        VCM_DB: path.join(dir, "vcm.sqlite"),
        VCM_MODELS_DIR: path.join(dir, "models"),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_SERVICE_NAME: "vcm-under-test",
      };
      expect(runVcm(["generate", "--dataset", "small", "--users", "60", "--items", "80", "--vocab", "200", "--json"], env).code).toBe(0);
      const server = await serveProcess(env, children);
      expect((await server.gql("query Datasets { datasets { name } }")).errors).toBeUndefined();
      for (let i = 0; i < 100 && !received.some((r) => r.body.includes("graphql query Datasets")); i += 1) await sleep(100);
      const batch = received.find((r) => r.body.includes("graphql query Datasets"));
      expect(batch?.path).toBe("/v1/traces");
      expect(batch?.body).toContain("vcm-under-test");
      expect(batch?.body).toContain("db catalog.listDatasets");
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
      await new Promise((resolve) => collector.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
