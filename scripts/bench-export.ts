/**
 * `npm run bench:export`: the export of every user's top 20 and the cohort evaluation of every test
 * user (`vcm export metrics`; issue 27's batch-scoring figures) by one process, and with `--shards`
 * spread over the asking process and two `vcm serve` processes on the same database (the real bin
 * throughout); `--passes` picks either. A fresh SQLite file (or `--db postgres://…`, an empty
 * database) gets a generated dataset and a 1-epoch model first. Prints wall seconds and the exporting
 * process's peak RSS for each, which process finished each export shard, and whether the files are equal.
 *
 * On one host the servers share its cores with the exporting process, so the spread run measures the
 * cost of the sharding (workers loading the model, lines through the database), not a speed-up; on
 * several hosts each adds its cores.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { serveChild } from "./serve-child.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "scripts", "vcm.js");

interface Timed {
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly stdout: string;
}

/** Runs the bin under /usr/bin/time (wall seconds and peak RSS of the process). */
function timedVcm(args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const child = spawn("/usr/bin/time", ["-f", "TIMED %e %M", process.execPath, BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      const timed = /TIMED ([\d.]+) (\d+)/.exec(stderr);
      if (code !== 0 || timed === null) return reject(new Error(`vcm ${args.join(" ")} failed (${code}): ${stderr.slice(-2000)}`));
      resolve({ seconds: Number(timed[1]), peakRssMb: Number(timed[2]) / 1024, stdout });
    });
  });
}


const program = new Command()
  .option("--users <n>", "users of the generated dataset", "100000")
  .option("--items <n>", "items", "2000")
  .option("--vocab <n>", "words", "2000")
  .option("--k <n>", "recommendations per user", "20")
  .option("--shards <n>", "shards of the spread export", "8")
  .option("--rule <rule>", "explanation rule: lift (milliseconds a user) | effect (exact, tens of ms a user) | evidence", "lift")
  .option("--db <target>", "an empty PostgreSQL database URL (default: a fresh SQLite file)")
  .option("--passes <list>", "recommendations (vcm export recommendations) and/or cohorts (vcm export metrics: the cohort evaluation of every test user)", "recommendations,cohorts")
  .parse();
const o = program.opts<{ users: string; items: string; vocab: string; k: string; shards: string; rule: string; db?: string; passes: string }>();
const passes = new Set(o.passes.split(",").map((p) => p.trim()));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-export-"));
const env: NodeJS.ProcessEnv = { ...process.env, VCM_DB: o.db ?? path.join(dir, "vcm.sqlite"), VCM_MODELS_DIR: path.join(dir, "models"), VCM_ADMIN_TOKEN: "", PORT: "" };
const servers: ChildProcess[] = [];
try {
  await timedVcm(["generate", "--dataset", "bench", "--users", o.users, "--items", o.items, "--vocab", o.vocab, "--json"], env);
  const trained = await timedVcm(["train", "--dataset", "bench", "--variant", "vcm", "--epochs", "1", "--json"], env);
  const modelId = String(JSON.parse(trained.stdout.trim().split("\n").at(-1)!).modelId);
  const common = ["export", "recommendations", "--model", modelId, "--k", o.k, "--rule", o.rule, "--format", "csv", "--json"];
  const cohorts = ["export", "metrics", "--model", modelId, "--json"];
  const single = passes.has("recommendations") ? await timedVcm([...common, "--out", path.join(dir, "single.csv")], env) : undefined;
  const singleCohorts = passes.has("cohorts") ? await timedVcm([...cohorts, "--out", path.join(dir, "single-metrics.csv")], env) : undefined;
  // Each server is tracked from its spawn, so one that fails to start still gets stopped.
  for (let i = 0; i < 2; i += 1) await serveChild(env, { onSpawn: (child) => servers.push(child) });
  const serverPids = new Set(servers.map((s) => String(s.pid)));
  const sameFile = (a: string, b: string) => fs.readFileSync(path.join(dir, a)).equals(fs.readFileSync(path.join(dir, b)));
  if (single !== undefined) {
    const spread = await timedVcm([...common, "--shards", o.shards, "--out", path.join(dir, "spread.csv")], env);
    const summary = JSON.parse(spread.stdout.trim().split("\n").at(-1)!) as { shards: Array<{ owner: string; attempts: number }> };
    const byProcess = new Map<string, number>();
    for (const shard of summary.shards) byProcess.set(shard.owner.split(":")[1], (byProcess.get(shard.owner.split(":")[1]) ?? 0) + 1);
    const equal = sameFile("single.csv", "spread.csv");
    const result = {
      pass: "recommendations",
      users: Number(o.users),
      items: Number(o.items),
      k: Number(o.k),
      rule: o.rule,
      database: o.db === undefined ? "sqlite" : "postgres",
      single: { seconds: single.seconds, peakRssMb: Math.round(single.peakRssMb) },
      spread: {
        shards: summary.shards.length,
        seconds: spread.seconds,
        peakRssMb: Math.round(spread.peakRssMb),
        shardsByServers: [...byProcess].filter(([pid]) => serverPids.has(pid)).reduce((n, [, count]) => n + count, 0),
        shardsByExporter: [...byProcess].filter(([pid]) => !serverPids.has(pid)).reduce((n, [, count]) => n + count, 0),
        retries: summary.shards.reduce((n, s) => n + s.attempts - 1, 0),
      },
      filesEqual: equal,
      load: os.loadavg().map((l) => l.toFixed(1)).join(" "),
    };
    console.log(`recommendations, one process: ${result.single.seconds.toFixed(1)} s, peak RSS ${result.single.peakRssMb} MB`);
    console.log(`recommendations, --shards ${o.shards} with two servers: ${result.spread.seconds.toFixed(1)} s, peak RSS of the exporting process ${result.spread.peakRssMb} MB; shards by the servers ${result.spread.shardsByServers}, by the exporting process ${result.spread.shardsByExporter}; files equal: ${equal}`);
    console.log(JSON.stringify(result));
  }
  if (singleCohorts !== undefined) {
    const spread = await timedVcm([...cohorts, "--shards", o.shards, "--out", path.join(dir, "spread-metrics.csv")], env);
    const rows = (JSON.parse(singleCohorts.stdout.trim().split("\n").at(-1)!) as { rows: number }).rows;
    const result = {
      pass: "cohorts",
      users: Number(o.users),
      testUsers: rows,
      items: Number(o.items),
      database: o.db === undefined ? "sqlite" : "postgres",
      single: { seconds: singleCohorts.seconds, peakRssMb: Math.round(singleCohorts.peakRssMb) },
      spread: { shards: Number(o.shards), seconds: spread.seconds, peakRssMb: Math.round(spread.peakRssMb) },
      filesEqual: sameFile("single-metrics.csv", "spread-metrics.csv"),
      load: os.loadavg().map((l) => l.toFixed(1)).join(" "),
    };
    console.log(`cohort evaluation (vcm export metrics, ${rows} test users), one process: ${result.single.seconds.toFixed(1)} s, peak RSS ${result.single.peakRssMb} MB`);
    console.log(`cohort evaluation, --shards ${o.shards} with two servers: ${result.spread.seconds.toFixed(1)} s, peak RSS of the asking process ${result.spread.peakRssMb} MB; files equal: ${result.filesEqual}`);
    console.log(JSON.stringify(result));
  }
} finally {
  for (const server of servers) server.kill("SIGTERM");
  fs.rmSync(dir, { recursive: true, force: true });
}
