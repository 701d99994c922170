/**
 * `npm run bench:freshness`: how soon an append reaches another server (issue 25's figure, target
 * p99 ≤ 1 s on SQLite and on PostgreSQL). Two `vcm serve` processes (A and B, the real bin) on one
 * database; each round appends, through A's appendInteractions, a click on a user's best
 * recommendation, and asks B for that user's top-10 every few milliseconds until the clicked item has
 * left it. Prints p50, p99 and max of the time from sending the mutation (so the figure also holds
 * A's commit) to B's changed answer, and how long A took to show it too.
 *
 * The database is a fresh SQLite file (or `--db postgres://…`, an empty database) that A's start fills
 * with the demo dataset and model, or, with `--shape yelp`, one this script fills first with a
 * Yelp-shaped dataset and a 1-epoch model (servers then follow the real reload cost).
 */
import "reflect-metadata";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { YELP_SHAPE, syntheticSource } from "../src/data/generate.ts";
import { dialectOf, openDatabase, redactedUrl } from "../src/db/data-source.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { latestReadyModel } from "../src/db/model-rows.ts";
import { ingestDataset } from "../src/services/ingest.ts";
import { trainAndSave } from "../src/services/training.ts";
import { serveChild, type ServeChild } from "./serve-child.ts";

/** Pause between two of B's answers while waiting for the change. */
const POLL_MS = 5;
/** A round that has not seen the change by then is reported as lost. */
const GIVE_UP_MS = 10_000;

type Server = ServeChild;

type Ranking = Array<{ item: { externalId: string } }>;

async function ranking(options: { server: Server; dataset: string; user: string; modelId: number }): Promise<Ranking> {
  const query = `query ($d: String!, $u: String!, $m: ID!) { user(dataset: $d, externalId: $u) { recommendations(modelId: $m, k: 10) { item { externalId } } } }`;
  const response = await fetch(options.server.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables: { d: options.dataset, u: options.user, m: options.modelId } }),
  });
  const json = (await response.json()) as { data?: { user: { recommendations: Ranking } }; errors?: unknown };
  if (json.errors || !json.data) throw new Error(`the server answered errors: ${JSON.stringify(json.errors)}`);
  return json.data.user.recommendations;
}

/** Appends one click through the server's appendInteractions; false when the click was already there. */
async function appendThrough(options: { server: Server; dataset: string; user: string; item: string }): Promise<boolean> {
  const mutation = `mutation ($d: String!, $r: [AppendRecordInput!]!) { appendInteractions(dataset: $d, records: $r) { clicksAdded } }`;
  const response = await fetch(options.server.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: mutation, variables: { d: options.dataset, r: [{ user: options.user, item: options.item, rating: 5 }] } }),
  });
  const json = (await response.json()) as { data?: { appendInteractions: { clicksAdded: number } }; errors?: unknown };
  if (json.errors || !json.data) throw new Error(`the append answered errors: ${JSON.stringify(json.errors)}`);
  return json.data.appendInteractions.clicksAdded === 1;
}

/** Milliseconds from `since` until the server's top-10 for the user no longer holds `clicked`. */
async function untilGone(options: { server: Server; dataset: string; user: string; modelId: number; clicked: string; since: number }): Promise<number> {
  for (;;) {
    const answer = await ranking(options);
    const elapsed = performance.now() - options.since;
    if (!answer.some((r) => r.item.externalId === options.clicked)) return elapsed;
    if (elapsed > GIVE_UP_MS) return Number.POSITIVE_INFINITY;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function percentile(sorted: ReadonlyArray<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function main(argv: ReadonlyArray<string>): Promise<void> {
  const program = new Command("bench-freshness")
    .option("--db <path-or-url>", "an empty PostgreSQL database (postgres://…); default a fresh SQLite file")
    .option("--appends <n>", "rounds: one append and one wait each", "100")
    .option("--shape <name>", "demo (what an empty database's first start makes) or yelp (a Yelp-shaped dataset)", "demo")
    .parse([...argv], { from: "user" });
  const opts = program.opts<{ db?: string; appends: string; shape: string }>();
  if (opts.shape !== "demo" && opts.shape !== "yelp") throw new Error(`--shape must be demo or yelp, got "${opts.shape}".`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-bench-freshness-"));
  const db = opts.db ?? path.join(dir, "vcm.sqlite");
  const postgres = dialectOf(db) === "postgres";
  const writer = await openDatabase(db);
  const dataset = opts.shape === "yelp" ? "bench-freshness-yelp" : "demo";
  if (opts.shape === "yelp") {
    process.stderr.write(`generating the Yelp-shaped dataset and a 1-epoch model…\n`);
    await ingestDataset(writer, { name: dataset, source: syntheticSource(YELP_SHAPE) });
    await trainAndSave({ dataSource: writer, dataset, variant: "vcm", config: { epochs: 1 }, modelsDir: path.join(dir, "a-models") });
  }
  const envFor = (name: string): NodeJS.ProcessEnv => ({ ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_DB: db, VCM_MODELS_DIR: path.join(dir, `${name}-models`) });
  const children: ChildProcess[] = [];
  try {
    process.stderr.write(`starting servers A and B on ${postgres ? `PostgreSQL ${redactedUrl(db)}` : `SQLite ${db}`}…\n`);
    const a = await serveChild(envFor("a"));
    children.push(a.child);
    const b = await serveChild(envFor("b"));
    children.push(b.child);
    const model = await latestReadyModel(writer, dataset, "vcm");
    if (model === null) throw new Error(`no ready VCM model of dataset ${dataset}`);
    const modelId = model.id;
    const appends = Number(opts.appends);
    const users = (await loadDatasetMatrices(writer, dataset)).userIds;
    if (users.length < appends) throw new Error(`the dataset has ${users.length} users, fewer than ${appends} rounds`);
    const onB: number[] = [];
    const onA: number[] = [];
    const loadBefore = os.loadavg()[0];
    // Users spread over the dataset; one whose top-10 is all clicked already (held-out items) is passed over.
    for (let round = 0, next = 0; round < appends; next += 1) {
      if (next >= users.length) throw new Error(`only ${round} of the dataset's users had an unclicked item in their top-10`);
      const user = users[(next * Math.max(1, Math.floor(users.length / appends))) % users.length];
      // B holds the user's current answer before the append, as a busy server would.
      const before = await ranking({ server: b, dataset, user, modelId });
      await ranking({ server: a, dataset, user, modelId });
      let clicked = "";
      let since = 0;
      for (const candidate of before) {
        since = performance.now();
        if (await appendThrough({ server: a, dataset, user, item: candidate.item.externalId })) {
          clicked = candidate.item.externalId;
          break;
        }
      }
      if (clicked === "") continue;
      round += 1;
      onB.push(await untilGone({ server: b, dataset, user, modelId, clicked, since }));
      onA.push(await untilGone({ server: a, dataset, user, modelId, clicked, since }));
    }
    const sorted = [...onB].sort((x, y) => x - y);
    const sortedA = [...onA].sort((x, y) => x - y);
    const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : `lost (> ${GIVE_UP_MS} ms)`);
    console.log(
      `database: ${postgres ? "PostgreSQL" : "SQLite"}, dataset ${dataset} (${users.length} users), ${appends} appends of one click each through A, ` +
        `load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "unknown CPU"}`,
    );
    console.log(`append sent to A → changed answer on B: p50 ${ms(percentile(sorted, 0.5))}, p99 ${ms(percentile(sorted, 0.99))}, max ${ms(sorted[sorted.length - 1])} (target p99 ≤ 1000 ms)`);
    console.log(`append sent to A → changed answer on A too (asked after B): p50 ${ms(percentile(sortedA, 0.5))}, p99 ${ms(percentile(sortedA, 0.99))}`);
  } finally {
    await Promise.all(children.map((child) => new Promise((resolve) => (child.kill("SIGTERM") ? child.once("exit", resolve) : resolve(undefined)))));
    await writer.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
