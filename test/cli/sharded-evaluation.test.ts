/**
 * The cohort and test evaluations as passes over users split into shards, with real processes on one
 * database (a SQLite file, or PostgreSQL in the postgres project): the CLI alone gives the same
 * per-user metrics, cohorts, evaluation and comparison as a single pass, figure for figure; with two
 * `vcm serve` processes on the database they take shards too, a shard whose worker is killed with
 * SIGKILL mid-shard is run again, and the figures are still the same; a server with
 * VCM_COHORT_SHARDS answers the `cohorts` query with the single pass's figures; a shard whose worker
 * counts other users than the pass was laid out over fails with a sentence.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.ts";
import { ExportJob, ExportShard } from "../../src/db/entities/export-job.entity.ts";
import { createExport, exportProgress, removeExport } from "../../src/db/export-shards.ts";
import { newLeaseOwner } from "../../src/db/job-leases.ts";
import { ExportShardService } from "../../src/services/export-shard-jobs.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";
import { removeServersAndDatabase, serveProcess, sleep } from "../graphql/serve-process.ts";
import { runVcm, runVcmAsync } from "./run-vcm.ts";
import { killARunningShardWorker } from "./shard-workers.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-sharded-eval-"));
let db: TestDatabase;
let env: NodeJS.ProcessEnv;
let modelA: number;
let modelB: number;
const started: ChildProcess[] = [];
/** Enough users for several batches of 256 test users and three of 512 (the default evalBatchSize). */
const USERS = 1400;

const vcm = (args: string[]) => runVcm(args, env);
const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");
const out = (file: string) => path.join(dir, file);

/** The figures of a `vcm evaluate --json` or `vcm compare --json` line that a pass computes. */
const single: Record<string, Record<string, unknown>> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  env = { ...process.env, VCM_DB: db.target, VCM_MODELS_DIR: path.join(dir, "models"), VCM_EXPERIMENTS_DIR: path.join(dir, "experiments"), VCM_BACKEND: "wasm", VCM_JOB_LEASE_SECONDS: "3", VCM_ADMIN_TOKEN: "", PORT: "" };
  expect(vcm(["generate", "--dataset", "shop", "--users", String(USERS), "--items", "120", "--vocab", "200", "--json"]).code).toBe(0);
  for (const seed of ["1", "2"]) {
    const trained = vcm(["train", "--dataset", "shop", "--variant", "vcm", "--epochs", "1", "--latent-dim", "8", "--hidden-x", "16", "--hidden-y", "16", "--seed", seed, "--json"]);
    expect(trained.code, trained.stderr).toBe(0);
    if (seed === "1") modelA = trained.last.modelId;
    else modelB = trained.last.modelId;
  }
  expect(vcm(["export", "metrics", "--model", String(modelA), "--out", out("single-metrics.csv")]).code).toBe(0);
  expect(vcm(["export", "cohorts", "--model", String(modelA), "--compare", String(modelB), "--grouping", "equal-users", "--format", "csv", "--out", out("single-cohorts.csv")]).code).toBe(0);
  const evaluated = vcm(["evaluate", "--model", String(modelA), "--json"]);
  expect(evaluated.code, evaluated.stderr).toBe(0);
  single.evaluate = evaluated.last;
  const compared = vcm(["compare", "--model", String(modelA), "--model", String(modelB), "--metric", "recall@20", "--json"]);
  expect(compared.code, compared.stderr).toBe(0);
  single.compare = compared.last;
}, 400_000);

afterAll(() => removeServersAndDatabase({ children: started, database: db, dir }));

/** Stops a server and waits for it to exit. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** Nothing of any sharded pass is left in the database. */
async function expectNoPassLeft(): Promise<void> {
  const after = await openDatabase(db.target);
  try {
    expect(await after.getRepository(ExportShard).count()).toBe(0);
    expect(await after.getRepository(ExportJob).count()).toBe(0);
  } finally {
    await after.destroy();
  }
}

describe("sharded cohort and test evaluations", () => {
  it("alone, give the single pass's per-user metrics, cohorts, evaluation and comparison exactly", () => {
    const metrics = vcm(["export", "metrics", "--model", String(modelA), "--shards", "3", "--out", out("sharded-metrics.csv")]);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(read("sharded-metrics.csv")).toBe(read("single-metrics.csv"));
    // Every test user is in the file, with real figures (not the frame's zeros).
    const rows = read("single-metrics.csv").trim().split("\n").slice(1);
    expect(rows.length).toBeGreaterThan(1024);
    expect(rows.some((row) => Number(row.split(",")[2]) > 0)).toBe(true);

    const cohorts = vcm(["export", "cohorts", "--model", String(modelA), "--compare", String(modelB), "--grouping", "equal-users", "--format", "csv", "--shards", "3", "--out", out("sharded-cohorts.csv")]);
    expect(cohorts.code, cohorts.stderr).toBe(0);
    expect(read("sharded-cohorts.csv")).toBe(read("single-cohorts.csv"));

    const evaluated = vcm(["evaluate", "--model", String(modelA), "--shards", "3", "--json"]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.last).toEqual(single.evaluate);
    expect(evaluated.stderr).toMatch(/evaluation: 3 of 3 shards done/);

    const compared = vcm(["compare", "--model", String(modelA), "--model", String(modelB), "--metric", "recall@20", "--shards", "2", "--json"]);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.last).toEqual(single.compare);
  }, 300_000);

  it("spreads a cohort evaluation over two servers; a worker killed mid-shard has its shard run again, and the figures are the same", async () => {
    const a = await serveProcess(env, started);
    const b = await serveProcess(env, started);
    const serverPids = new Set([a.child.pid!, b.child.pid!]);
    const exporting = runVcmAsync(["export", "metrics", "--model", String(modelA), "--shards", "5", "--out", out("spread-metrics.csv")], { env, started });
    const dataSource = await openDatabase(db.target);
    let killed: number | undefined;
    try {
      killed = (await killARunningShardWorker({ dataSource, serverPids }))?.id;
      expect(killed, "a server ran a shard while the pass ran").toBeDefined();
      // The killed shard is queued again and finished by another attempt (the pass needs every shard).
      let attempts = 0;
      for (let i = 0; i < 1200 && attempts < 2; i += 1) {
        const shard = await dataSource.getRepository(ExportShard).findOne({ where: { id: killed! } });
        if (shard === null) break;
        attempts = shard.attempts;
        if (attempts < 2) await sleep(50);
      }
      expect(attempts).toBeGreaterThanOrEqual(2);
    } finally {
      await dataSource.destroy();
    }
    const result = await exporting;
    expect(result.code, result.stderr).toBe(0);
    expect(read("spread-metrics.csv")).toBe(read("single-metrics.csv"));
    await expectNoPassLeft();
    await stop(a.child);
    await stop(b.child);
  }, 300_000);

  it("answers the cohorts query of a server with VCM_COHORT_SHARDS as a single pass does (every server's queue takes its shards), and evaluates beside the servers as one process does", async () => {
    const query = `query C($m: ID!, $c: ID!) { cohorts(modelId: $m, compareTo: $c, grouping: EQUAL_USERS) { testUsers cohorts { label userCount figures { meanCapacity ndcg10 recall20 beyondAccuracy { coverage arp aplt novelty } } compared { ndcg10 recall20 } } beyondAccuracy { coverage arp aplt novelty } itemCohorts { name recall20 } } }`;
    const plain = await serveProcess(env, started);
    const sharding = await serveProcess({ ...env, VCM_COHORT_SHARDS: "4" }, started);
    const expected = await plain.gql(query, { m: String(modelA), c: String(modelB) });
    expect(expected.errors).toBeUndefined();
    const answered = await sharding.gql(query, { m: String(modelA), c: String(modelB) });
    expect(answered.errors).toBeUndefined();
    expect(answered.data).toEqual(expected.data);
    expect(answered.data.cohorts.testUsers).toBeGreaterThan(1024);
    // A test evaluation beside the same two servers gives the single pass's figures too.
    const evaluated = await runVcmAsync(["evaluate", "--model", String(modelA), "--shards", "3", "--json"], { env, started });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(JSON.parse(evaluated.stdout.trim().split("\n").at(-1)!)).toEqual(single.evaluate);
    await expectNoPassLeft();
  }, 300_000);

  it("fails a shard whose worker counts other users than the asking process did (the dataset changed), with a sentence", async () => {
    const dataSource = await openDatabase(db.target);
    const queue = new ExportShardService({ dataSource, dbPath: db.target, modelsDir: env.VCM_MODELS_DIR!, leaseSeconds: 3 });
    try {
      // A pass laid out over 5 test users, as if the dataset had grown since: every position would name another user.
      const passId = await createExport(dataSource, { modelId: modelA, settings: { pass: "cohortEvaluation" }, userCount: 5, bounds: [0, 5], owner: newLeaseOwner(), leaseMs: 60_000 });
      await queue.recover();
      let progress = await exportProgress(dataSource, passId);
      for (let i = 0; i < 1200 && progress.shards[0].status !== "failed"; i += 1) {
        await sleep(50);
        progress = await exportProgress(dataSource, passId);
      }
      expect(progress.shards[0].status).toBe("failed");
      expect(progress.shards[0].attempts).toBe(1);
      expect(progress.shards[0].error).toMatch(/^The dataset changed while the sharded pass ran \(5 users when it started, \d+ now\); run it again\.$/);
      await removeExport(dataSource, { id: passId });
    } finally {
      await queue.close();
      await dataSource.destroy();
    }
  }, 120_000);

  it("refuses a shard count out of range with a sentence", () => {
    for (const shards of ["0", "65"]) {
      const refused = vcm(["evaluate", "--model", String(modelA), "--shards", shards]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/--shards must be a whole number from 1 to 64/);
      expect(refused.stderr).not.toMatch(/at .*\.ts:\d+/);
    }
    const cohorts = vcm(["export", "cohorts", "--model", String(modelA), "--shards", "0"]);
    expect(cohorts.stderr).toMatch(/--shards must be a whole number from 1 to 64/);
  });
});
