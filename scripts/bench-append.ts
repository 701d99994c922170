/**
 * `npm run bench:append`: append throughput on SQLite and (with --db) PostgreSQL, through the CLI
 * (`vcm ingest --append` of a tsv file, the real bin under /usr/bin/time for its peak RSS) and through
 * the `appendInteractions` mutation of a real `vcm serve` process (calls of MAX_APPEND_RECORDS records,
 * one after another; the server's peak RSS from /proc). Prints records/s and peak RSS for each.
 * Records: half of existing users, half of new ones; a fifth of the items new; one in ten rated under
 * the threshold; one in five with a review text of 12 words (one of them outside the vocabulary).
 * Usage: npm run bench:append [-- --records N] [-- --calls N] [-- --db postgres://user@host:5432/db]
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import seedrandom from "seedrandom";
import { syntheticSource } from "../src/data/generate.ts";
import { dialectOf, openDatabase, redactedUrl } from "../src/db/data-source.ts";
import { deleteDatasetNamed, vacuumDatasetTables } from "../src/db/dataset-rows.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { MAX_APPEND_RECORDS } from "../src/services/append.ts";
import { ingestDataset } from "../src/services/ingest.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "scripts", "vcm.js");
/** The base dataset appended to (synthetic, stored like an ingest). */
const BASE = { users: 5_000, items: 2_000, vocab: 2_000, seed: 7 };

interface AppendRecord {
  user: string;
  item: string;
  rating: number;
  text: string | null;
}

async function main(argv: ReadonlyArray<string>): Promise<void> {
  const option = (name: string, fallback: number): number => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
  const records = option("--records", 200_000);
  const calls = option("--calls", 10);
  const url = argv.includes("--db") ? argv[argv.indexOf("--db") + 1] : undefined;
  if (url !== undefined && dialectOf(url) !== "postgres") throw new Error(`--db takes a postgres:// URL; got ${url}`);
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; ${os.cpus().length} CPUs; ${new Date().toISOString()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-append-"));
  try {
    for (const target of [path.join(dir, "bench.sqlite"), ...(url === undefined ? [] : [url])]) {
      console.log(`\n${target === url ? `PostgreSQL ${redactedUrl(url)}` : "SQLite (a file in a temporary folder)"}`);
      const names = await prepareBase(target);
      const random = seedrandom.alea("bench-append");
      const cli = await benchCli({ target, dir, records: recordsFor({ names, count: records, random, prefix: "c" }) });
      console.log(`  CLI (vcm ingest --append, ${records} records): ${cli.seconds.toFixed(1)} s = ${Math.round(records / cli.seconds)} records/s, peak RSS ${cli.peakRssMb.toFixed(0)} MB (whole process)`);
      console.log(`    added ${cli.summary.usersAdded} users, ${cli.summary.itemsAdded} items, ${cli.summary.clicksAdded} clicks, ${cli.summary.reviewsAdded} reviews; version ${cli.summary.version}`);
      const perCall = MAX_APPEND_RECORDS;
      const mutation = await benchMutation({ target, dir, batches: Array.from({ length: calls }, (_, k) => recordsFor({ names, count: perCall, random, prefix: `m${k}-` })) });
      console.log(
        `  mutation (appendInteractions, ${calls} calls of ${perCall} records, one after another): ${mutation.seconds.toFixed(1)} s = ${Math.round((calls * perCall) / mutation.seconds)} records/s, ` +
          `${(mutation.seconds / calls).toFixed(2)} s per call (median ${mutation.medianCallSeconds.toFixed(2)} s), server peak RSS ${mutation.peakRssMb.toFixed(0)} MB`,
      );
      const db = await openDatabase(target);
      await deleteDatasetNamed(db, "bench");
      await vacuumDatasetTables(db);
      await db.destroy();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Stores the base dataset "bench" (replacing one left by an earlier run) and returns its user and item ids and vocabulary. */
async function prepareBase(target: string): Promise<{ users: ReadonlyArray<string>; items: ReadonlyArray<string>; vocabulary: ReadonlyArray<string> }> {
  const db = await openDatabase(target);
  try {
    await ingestDataset(db, { name: "bench", replace: true, source: syntheticSource(BASE) });
    const m = await loadDatasetMatrices(db, "bench");
    return { users: m.userIds, items: m.itemIds, vocabulary: m.vocabulary };
  } finally {
    await db.destroy();
  }
}

function recordsFor(o: { names: { users: ReadonlyArray<string>; items: ReadonlyArray<string>; vocabulary: ReadonlyArray<string> }; count: number; random: () => number; prefix: string }): AppendRecord[] {
  const { names, random } = o;
  const pick = <T>(list: ReadonlyArray<T>): T => list[Math.floor(random() * list.length)];
  return Array.from({ length: o.count }, (_, k) => {
    const user = random() < 0.5 ? pick(names.users) : `${o.prefix}u${k % Math.max(1, Math.floor(o.count / 10))}`;
    const item = random() < 0.8 ? pick(names.items) : `${o.prefix}i${k % 500}`;
    const rating = random() < 0.1 ? 2 : 5;
    const text = random() < 0.2 ? [...Array.from({ length: 11 }, () => pick(names.vocabulary)), "zzunheard"].join(" ") : null;
    return { user, item, rating, text };
  });
}

async function benchCli(o: { target: string; dir: string; records: ReadonlyArray<AppendRecord> }): Promise<{ seconds: number; peakRssMb: number; summary: Record<string, number> }> {
  const interactions = path.join(o.dir, "append.tsv");
  const texts = path.join(o.dir, "append-texts.tsv");
  fs.writeFileSync(interactions, o.records.map((r) => `${r.user}\t${r.item}\t${r.rating}\n`).join(""));
  fs.writeFileSync(texts, o.records.filter((r) => r.text !== null).map((r) => `${r.user}\t${r.item}\t${r.text}\n`).join(""));
  const started = performance.now();
  const result = spawnSync("/usr/bin/time", ["-f", "peak-rss-kb %M", process.execPath, BIN, "ingest", "--append", "--dataset", "bench", "--format", "tsv", "--interactions", interactions, "--texts", texts, "--db", o.target, "--json"], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`vcm ingest --append failed (${result.status}): ${result.stderr}`);
  const rss = /peak-rss-kb (\d+)/.exec(result.stderr);
  const lines = result.stdout.trim().split("\n");
  return { seconds, peakRssMb: Number(rss?.[1] ?? 0) / 1024, summary: JSON.parse(lines[lines.length - 1]) as Record<string, number> };
}

async function benchMutation(o: { target: string; dir: string; batches: ReadonlyArray<ReadonlyArray<AppendRecord>> }): Promise<{ seconds: number; medianCallSeconds: number; peakRssMb: number }> {
  const env = { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_DB: o.target, VCM_MODELS_DIR: path.join(o.dir, "models") };
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--json"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split("\n").find((l) => l.startsWith("{"));
        if (line !== undefined) resolve((JSON.parse(line) as { graphql: string }).graphql);
      });
      child.once("exit", (code) => reject(new Error(`vcm serve exited with ${code}`)));
    });
    const query = "mutation($records: [AppendRecordInput!]!) { appendInteractions(dataset: \"bench\", records: $records) { version clicksAdded } }";
    const times: number[] = [];
    const started = performance.now();
    for (const batch of o.batches) {
      const body = JSON.stringify({ query, variables: { records: batch.map((r) => (r.text === null ? { user: r.user, item: r.item, rating: r.rating } : r)) } });
      const callStarted = performance.now();
      const response = (await (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })).json()) as { errors?: unknown };
      times.push((performance.now() - callStarted) / 1000);
      if (response.errors !== undefined) throw new Error(`appendInteractions failed: ${JSON.stringify(response.errors)} (body ${body.length} bytes)`);
    }
    const seconds = (performance.now() - started) / 1000;
    const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
    const peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    times.sort((a, b) => a - b);
    return { seconds, medianCallSeconds: times[Math.floor(times.length / 2)], peakRssMb: peakKb / 1024 };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

await main(process.argv.slice(2));
