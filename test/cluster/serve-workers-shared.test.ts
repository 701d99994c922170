/**
 * `vcm serve --workers 2` with the real bin on a fresh SQLite file: a key's requests per minute are
 * counted once for both workers, though each request comes on a connection of its own (the primary
 * hands connections to the workers in turn), and /metrics on the --metrics-port, whichever worker
 * answers it, counts every request the two workers answered and gives the demo model's stored NDCG@10
 * once rather than once per worker.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm } from "../cli/run-vcm.ts";
import { serveProcess, serverEnv, type ServerProcess } from "../graphql/serve-process.ts";

const LIMIT = 4;
const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-serve-workers-shared-"));
const env = serverEnv({ db: path.join(dir, "vcm.sqlite"), dir, name: "workers", extra: { VCM_SERVE_WORKERS: "" } });

/** One HTTP request on a connection of its own (so the primary hands each to the next worker). */
function onNewConnection(options: { url: string; method: string; headers?: http.OutgoingHttpHeaders; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(options.url, { method: options.method, agent: false, headers: options.headers }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    request.end(options.body);
  });
}

/** The sum of every sample of `name` in a metrics text whose labels contain `labels` (e.g. `code="OK"`). */
function total(text: string, name: string, labels = ""): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

describe.skipIf(process.platform !== "linux")("vcm serve --workers 2 shares", () => {
  let server: ServerProcess;
  let key: string;

  beforeAll(async () => {
    const created = runVcm(["keys", "create", "--name", "limited", "--role", "analyst", "--rate", String(LIMIT), "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    key = created.last.key;
    server = await serveProcess(env, children, ["--workers", "2", "--metrics-port", "0"]);
  }, 240_000);

  afterAll(() => {
    for (const child of children) child.kill("SIGKILL");
    for (const pid of server?.summary.workerPids ?? []) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone with its primary already.
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a key's limit between its workers, and /metrics counts the requests of both", async () => {
    expect(server.summary.workers).toBe(2);
    const statuses: number[] = [];
    for (let i = 0; i < 2 * LIMIT; i += 1) {
      const answer = await onNewConnection({
        url: server.url,
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: "query Shared { datasets { name } }" }),
      });
      statuses.push(answer.status);
      if (answer.status === 429) expect(JSON.parse(answer.body).errors[0].extensions.code).toBe("RATE_LIMITED");
    }
    // Counted in each worker, the requests handed out in turn would all pass (LIMIT each).
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(200), ...Array<number>(LIMIT).fill(429)]);

    // Two scrapes on connections of their own reach both workers; each answers for the whole serve.
    const model = `model="${server.summary.trainedModelId}"`;
    const ndcgs: number[] = [];
    for (let i = 0; i < 2; i += 1) {
      const scrape = await onNewConnection({ url: server.summary.metrics as string, method: "GET" });
      expect(scrape.status).toBe(200);
      expect(total(scrape.body, "vcm_graphql_requests_total", 'operation="Shared",code="OK"')).toBe(LIMIT);
      expect(total(scrape.body, "vcm_graphql_requests_total", 'code="RATE_LIMITED"')).toBe(LIMIT);
      expect(total(scrape.body, "vcm_graphql_requests_total")).toBe(2 * LIMIT);
      ndcgs.push(total(scrape.body, "vcm_model_test_ndcg_at_10", model));
    }
    // The demo model's stored figure, read from the database by each worker, is given once, not summed.
    const stored = (await server.gql(`{ model(id: "${server.summary.trainedModelId}") { testMetrics { ndcgAt10 } } }`)).data.model.testMetrics.ndcgAt10;
    expect(stored).toBeGreaterThan(0);
    expect(ndcgs[0]).toBeCloseTo(stored, 12);
    expect(ndcgs[1]).toBeCloseTo(stored, 12);
  }, 120_000);
});
