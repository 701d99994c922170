/**
 * What the workers of one `vcm serve --workers N` share, in a real node:cluster of two worker processes
 * over one SQLite file (test/fixtures/cluster/): a key's rate limit counts across the workers in the
 * primary, and /metrics, on the port the workers share, sums each process's counts but reads the
 * database's jobs once. Without the primary's services a worker still answers every request (counting
 * on its own), and a scrape that cannot have every worker's metrics (no primary's services, or a worker
 * that does not answer) fails with SERVER_BUSY instead of showing some workers' counters.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { insertQueuedJob } from "../../src/db/job-rows.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import type { ClusterReport } from "../fixtures/cluster/messages.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PRIMARY = path.join(ROOT, "test/fixtures/cluster/shared-state-primary.ts");

let dir: string;
let dbPath: string;

/** Runs the cluster's primary; fails if it does not end by itself within 120 s. */
function runCluster(mode: "services" | "alone" | "silent"): Promise<ClusterReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", PRIMARY, mode, dbPath], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the cluster did not end by itself within 120 s; stderr: ${stderr}`));
    }, 120_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((text) => text.startsWith('{"ports"'));
      if (code !== 0 || line === undefined) reject(new Error(`the cluster's primary exited with ${code}: ${stderr.slice(-3000)}`));
      else resolve(JSON.parse(line) as ClusterReport);
    });
  });
}

/** The value of the sample line `name{labels} value` of a metrics text (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-cluster-"));
  dbPath = path.join(dir, "cluster.sqlite");
  const dataSource = await openDatabase(dbPath);
  try {
    const dataset = await ingestDataset(dataSource, { name: "cluster", source: syntheticSource({ users: 30, items: 40, vocab: 100, seed: 5 }) });
    for (let i = 0; i < 2; i += 1) await insertQueuedJob(dataSource, { datasetId: dataset.datasetId, variant: "vcm", config: {}, totalEpochs: 1 });
  } finally {
    await dataSource.destroy();
  }
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The first error of a refused scrape's JSON answer. */
function firstError(text: string): { message: string; extensions: { code: string } } {
  return (JSON.parse(text) as { errors: Array<{ message: string; extensions: { code: string } }> }).errors[0];
}

describe("two cluster workers of one serve", () => {
  it("share a key's rate limit and answer /metrics for both: counts summed, the database's jobs once", async () => {
    const report = await runCluster("services");
    expect(report.ports[0]).toBeGreaterThan(0);
    expect(report.ports[1]).toBe(report.ports[0]);
    // 5 requests a minute for the key: worker 1's third request is the sixth of the cluster.
    expect(report.outcomes).toEqual([
      ["ok", "ok", "ok"],
      ["ok", "ok", "RATE_LIMITED"],
    ]);
    expect(report.scrape.status).toBe(200);
    const text = report.scrape.text;
    expect(sample(text, 'vcm_graphql_requests_total{operation="Shared",code="OK"}')).toBe(3 + 4);
    expect(sample(text, 'vcm_graphql_request_duration_seconds_count{operation="Shared"}')).toBe(3 + 4);
    expect(sample(text, 'vcm_graphql_active_subscriptions{operation="Follow"}')).toBe(1 + 2);
    expect(sample(text, "vcm_heavy_query_queue_depth")).toBe(1 + 2);
    expect(sample(text, 'vcm_jobs{kind="training",state="queued"}')).toBe(2);
    expect(text).toMatch(/^nodejs_version_info\{.*\} 1$/m);
  });

  it("without the primary's services, count each on its own rather than fail, and refuse a scrape with SERVER_BUSY", async () => {
    const report = await runCluster("alone");
    expect(report.outcomes).toEqual([
      ["ok", "ok", "ok"],
      ["ok", "ok", "ok"],
    ]);
    expect(report.scrape.status).toBe(503);
    const refusal = firstError(report.scrape.text);
    expect(refusal.extensions.code).toBe("SERVER_BUSY");
    expect(refusal.message).toBe(
      "The metrics of this server's workers could not be gathered (the cluster's primary did not answer within 7 s); a worker may be starting or busy, scrape again shortly.",
    );
  });

  it("refuse a scrape with SERVER_BUSY while a worker does not answer the primary, and still share the key's limit", async () => {
    const report = await runCluster("silent");
    expect(report.outcomes).toEqual([
      ["ok", "ok", "ok"],
      ["ok", "ok", "RATE_LIMITED"],
    ]);
    expect(report.scrape.status).toBe(503);
    const refusal = firstError(report.scrape.text);
    expect(refusal.extensions.code).toBe("SERVER_BUSY");
    expect(refusal.message).toBe(
      'The metrics of this server\'s workers could not be gathered (the primary said "Operation timed out."); a worker may be starting or busy, scrape again shortly.',
    );
  });
});
