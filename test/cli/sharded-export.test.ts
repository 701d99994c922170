/**
 * Batch scoring over every instance (`vcm export recommendations --shards N`), with real processes on
 * one database (a SQLite file, or PostgreSQL in the postgres project): the CLI alone writes the same
 * file byte for byte as a single export; with two `vcm serve` processes on the database they take
 * shards too, and a shard whose worker is killed with SIGKILL mid-shard is run again, the file still
 * the same. Bad input is refused with a sentence.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.ts";
import { ExportShard } from "../../src/db/entities/export-job.entity.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";
import { serveProcess } from "../graphql/serve-process.ts";
import { runVcm, runVcmAsync } from "./run-vcm.ts";
import { killARunningShardWorker } from "./shard-workers.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-sharded-"));
let db: TestDatabase;
let env: NodeJS.ProcessEnv;
let modelId: number;
const started: ChildProcess[] = [];
/** Three batches of 256 users and a short fourth: four shards at most. */
const USERS = 900;

const vcm = (args: string[]) => runVcm(args, env);
const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");

beforeAll(async () => {
  db = await createTestDatabase();
  env = { ...process.env, VCM_DB: db.target, VCM_MODELS_DIR: path.join(dir, "models"), VCM_EXPERIMENTS_DIR: path.join(dir, "experiments"), VCM_BACKEND: "wasm", VCM_JOB_LEASE_SECONDS: "3", VCM_ADMIN_TOKEN: "", PORT: "" };
  expect(vcm(["generate", "--dataset", "shop", "--users", String(USERS), "--items", "120", "--vocab", "200", "--json"]).code).toBe(0);
  const trained = vcm(["train", "--dataset", "shop", "--variant", "vcm", "--epochs", "1", "--latent-dim", "8", "--hidden-x", "16", "--hidden-y", "16", "--json"]);
  expect(trained.code, trained.stderr).toBe(0);
  modelId = trained.last.modelId;
  for (const format of ["csv", "jsonl"]) {
    const single = vcm(["export", "recommendations", "--model", String(modelId), "--k", "5", "--format", format, "--out", path.join(dir, `single.${format}`), "--json"]);
    expect(single.code, single.stderr).toBe(0);
  }
}, 240_000);

afterAll(async () => {
  for (const child of started) if (child.exitCode === null) child.kill("SIGKILL");
  await db.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("vcm export recommendations --shards", () => {
  it("alone, writes the same file byte for byte as a single export (CSV and JSON lines), shard by shard of whole batches", () => {
    for (const format of ["csv", "jsonl"]) {
      const sharded = vcm(["export", "recommendations", "--model", String(modelId), "--k", "5", "--format", format, "--shards", "3", "--out", path.join(dir, `sharded.${format}`), "--json"]);
      expect(sharded.code, sharded.stderr).toBe(0);
      expect(read(`sharded.${format}`)).toBe(read(`single.${format}`));
      expect(sharded.last.users).toBe(USERS);
      expect(sharded.last.rows).toBe(USERS * 5);
      // 900 users are 4 batches of 256: 3 shards of 1, 1 and 2 batches (as equal as whole batches allow).
      expect(sharded.last.shards.map((s: { users: number }) => s.users)).toEqual([256, 256, 388]);
      expect(sharded.last.shards.map((s: { lines: number }) => s.lines)).toEqual([256 * 5, 256 * 5, 388 * 5]);
      expect(sharded.stderr).toMatch(/recommendations: 3 of 3 shards done/);
    }
  }, 240_000);

  it("spreads the shards over two servers on the database; a worker killed mid-shard has its shard run again, and the file is the same", async () => {
    const a = await serveProcess(env, started);
    const b = await serveProcess(env, started);
    const serverPids = new Set([a.child.pid!, b.child.pid!]);
    const exporting = runVcmAsync(["export", "recommendations", "--model", String(modelId), "--k", "5", "--format", "csv", "--shards", "4", "--out", path.join(dir, "spread.csv"), "--json"], { env, started });
    // Kill the worker of the first shard a server runs, while it runs (its lease is then held by a live server: the server's queue sees the worker die and queues the shard again).
    const dataSource = await openDatabase(db.target);
    let killed: number | undefined;
    try {
      killed = (await killARunningShardWorker({ dataSource, serverPids }))?.shardIndex;
    } finally {
      await dataSource.destroy();
    }
    const result = await exporting;
    expect(result.code, result.stderr).toBe(0);
    expect(killed, "a server ran a shard while the export ran").toBeDefined();
    expect(read("spread.csv")).toBe(read("single.csv"));
    const shards = result.last.shards as Array<{ shard: number; attempts: number; owner: string }>;
    expect(shards).toHaveLength(4);
    expect(shards[killed!].attempts).toBeGreaterThanOrEqual(2);
    // At least one shard was finished by a server, not by the exporting process.
    expect(shards.some((s) => serverPids.has(Number(s.owner.split(":")[1])))).toBe(true);
    // Nothing of the export is left in the database.
    const after = await openDatabase(db.target);
    try {
      expect(await after.getRepository(ExportShard).count()).toBe(0);
    } finally {
      await after.destroy();
    }
  }, 300_000);

  it("refuses a shard count out of range with a sentence, and writes nothing", () => {
    for (const shards of ["0", "65", "2.5"]) {
      const refused = vcm(["export", "recommendations", "--model", String(modelId), "--shards", shards, "--out", path.join(dir, "refused.csv")]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/--shards must be a whole number from 1 to 64|--shards/);
      expect(refused.stderr).not.toMatch(/at .*\.ts:\d+/);
    }
    expect(fs.existsSync(path.join(dir, "refused.csv"))).toBe(false);
  });
});
