/**
 * Two `vcm serve` processes (the real bin) on one PostgreSQL database, each with its own models folder
 * as if on separate machines (issue 9): a model trained through A is served by B with the same
 * scores; a job started on B is watched on A by subscription and cancelled from A; a model deleted on
 * A answers NOT_FOUND on B within a second; when the server running a job is killed, the other fails
 * it, and no checkpoint of it is left in the database.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RESTART_MESSAGE } from "../../src/services/jobs.ts";
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from "../db/databases.ts";
import { pollJob, serveProcess, sleep, startJob, type ServerProcess, removeServersAndDatabase, serverEnv } from "./serve-process.ts";

const LEASE_SECONDS = 2;
const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-pg-servers-"));
let database: TestDatabase;
let a: ServerProcess;
let b: ServerProcess;

const envFor = (name: string): NodeJS.ProcessEnv => serverEnv({ db: database.target, dir, name, extra: { VCM_JOB_LEASE_SECONDS: String(LEASE_SECONDS) } });

if (!POSTGRES_URL) console.warn("multi-server PostgreSQL tests skipped: set VCM_TEST_POSTGRES_URL (bash scripts/ci/postgres.sh start DIR prints one)");

describe.skipIf(!POSTGRES_URL)("two servers on one PostgreSQL database, each with its own models folder", () => {
  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    // A's start generates the demo dataset and trains model 1 into A's folder; B's reuses them.
    a = await serveProcess(envFor("a"), children);
    b = await serveProcess(envFor("b"), children);
  }, 300_000);

  afterAll(async () => {
    await removeServersAndDatabase({ children, database, dir });
  });

  it("serves on B the model A trained, with identical scores, from B's own copy", async () => {
    const query = `{ user(id: 3) { recommendations(modelId: "1", k: 10) { rank score item { id } } topWords(modelId: "1", k: 5) { word probability } } }`;
    const onA = await a.gql(query);
    // Both servers run on this machine: A's checkpoint folder is moved out of B's reach while B loads
    // the model (A holds it in memory by now), as it would be on another machine.
    const aFolder = path.join(dir, "a-models", "model-1");
    fs.renameSync(aFolder, `${aFolder}.elsewhere`);
    let onB: Awaited<ReturnType<ServerProcess["gql"]>>;
    try {
      onB = await b.gql(query);
    } finally {
      fs.renameSync(`${aFolder}.elsewhere`, aFolder);
    }
    expect(onA.errors).toBeUndefined();
    expect(onB.errors).toBeUndefined();
    expect(onB.data).toEqual(onA.data);
    expect(onA.data.user.recommendations).toHaveLength(10);
    expect(fs.readdirSync(path.join(dir, "b-models", "model-1")).sort()).toEqual(["manifest.json", "weights.bin"]);
  }, 60_000);

  it("lets A watch by subscription, and cancel, a job that B runs", async () => {
    const id = await startJob(b, 2_000);
    const client = createClient({ url: a.url.replace(/^http/, "ws"), webSocketImpl: WebSocket, retryAttempts: 0 });
    const seen: Array<{ status: string; epoch: number; cancelRequested: boolean }> = [];
    let cancelSent = false;
    try {
      await new Promise<void>((resolve, reject) => {
        client.subscribe<{ trainingJobUpdated: { status: string; cancelRequested: boolean; progress: { epoch: number } } }>(
          { query: `subscription ($id: ID!) { trainingJobUpdated(id: $id) { status cancelRequested progress { epoch } } }`, variables: { id } },
          {
            next: (message) => {
              if (message.errors) return reject(new Error(JSON.stringify(message.errors)));
              const job = message.data!.trainingJobUpdated;
              seen.push({ status: job.status, epoch: job.progress.epoch, cancelRequested: job.cancelRequested });
              // Once A has relayed an epoch of B's job, A asks for the cancel (B stops it at its heartbeat).
              if (!cancelSent && job.status === "RUNNING" && job.progress.epoch >= 1) {
                cancelSent = true;
                a.gql(`mutation ($id: ID!) { cancelTrainingJob(id: $id) { status cancelRequested } }`, { id }).then((r) => {
                  if (r.errors) reject(new Error(JSON.stringify(r.errors)));
                }, reject);
              }
            },
            error: reject,
            complete: resolve,
          },
        );
      });
    } finally {
      await client.dispose();
    }
    expect(cancelSent).toBe(true);
    // Epochs B ran reached A's subscriber, then the end: cancelled.
    expect(seen.filter((s) => s.status === "RUNNING" && s.epoch >= 1).length).toBeGreaterThanOrEqual(1);
    expect(seen.at(-1)!.status).toBe("CANCELLED");
    expect((await b.gql(`query ($id: ID!) { trainingJob(id: $id) { status model { id } } }`, { id })).data.trainingJob).toEqual({ status: "CANCELLED", model: null });
  }, 120_000);

  it("answers NOT_FOUND on B within a second once A deleted the model", async () => {
    const warm = await b.gql(`{ user(id: 1) { recommendations(modelId: "1", k: 3) { rank } } }`);
    expect(warm.errors).toBeUndefined();
    const deleted = await a.gql(`mutation { deleteModel(id: "1") }`);
    expect(deleted.errors).toBeUndefined();
    const t0 = performance.now();
    let codes: Array<string | undefined> = [];
    while (performance.now() - t0 < 1_000) {
      const stale = await b.gql(`{ user(id: 1) { recommendations(modelId: "1", k: 3) { rank } } }`);
      codes = stale.errors?.map((e) => e.extensions?.code) ?? [];
      if (codes.length > 0) break;
      await sleep(20);
    }
    expect(codes).toEqual(["NOT_FOUND"]);
  }, 60_000);

  it("fails, from the survivor, the job of a killed server, with no half-made checkpoint left", async () => {
    const id = await startJob(a, 2_000);
    const running = await pollJob(a, id, (job) => job.status === "RUNNING" && job.model !== null);
    const modelId = Number(running.model.id);
    a.child.kill("SIGKILL");
    const failed = await pollJob(b, id, (job) => job.status !== "RUNNING");
    expect(failed.status).toBe("FAILED");
    expect(failed.error).toBe(RESTART_MESSAGE);
    const model = await b.gql(`query ($id: ID!) { model(id: $id) { status } }`, { id: modelId });
    if (model.errors) expect(model.errors[0].extensions?.code).toBe("NOT_FOUND");
    else expect(model.data.model.status).toBe("FAILED");
    const check = new pg.Client({ connectionString: database.target });
    await check.connect();
    try {
      const stored = await check.query("SELECT COUNT(*)::int AS n FROM checkpoint_files WHERE model_id = $1", [modelId]);
      expect(stored.rows[0].n).toBe(0);
    } finally {
      await check.end();
    }
  }, 120_000);
});
