/**
 * Peak memory of scoring a large catalogue (`npm run bench:scoring-memory`, issue 27 item 2): a VCM
 * model of the default sizes with random weights over `--items` items (default 200,000) ranks 512
 * users' top 20 with their scores (serving's rankItems) and evaluates 2,048 users' top 100 (evaluation's
 * topItems, the pass behind evaluateRanking), each in its own process, once with the whole catalogue as one block (what every pass did
 * before item blocks) and once in blocks of ITEM_BLOCK_ITEMS; it prints seconds and peak RSS of each.
 *
 *   npm run bench:scoring-memory -- [--items 200000] [--words 10000] [--json]
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { resolveVcmConfig } from "../src/engine/config.ts";
import { VcmModel } from "../src/engine/models/vcm/model.ts";
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../src/engine/models/params.ts";
import { paramSpecs } from "../src/engine/models/vcm/vae.ts";
import { Rng } from "../src/engine/random.ts";
import { currentBackend, currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import { ITEM_BLOCK_ITEMS } from "../src/engine/running-top-k.ts";
import { randomCsr } from "./bench-train-worker.ts";

const SCRIPT = fileURLToPath(import.meta.url);
const RANK_USERS = 512;
const EVALUATE_USERS = 2_048;

interface Case {
  readonly work: "rank" | "evaluate";
  readonly blockItems: number;
  readonly items: number;
  readonly words: number;
}

interface CaseResult extends Case {
  readonly seconds: number;
  readonly peakRssMb: number;
  /** RSS once the model was built, before scoring. */
  readonly modelRssMb: number;
}

async function child(c: Case): Promise<void> {
  await initBackend();
  const config = resolveVcmConfig({ variant: "vcm" });
  // Drawn on the backend, so the weights are never also held as JS arrays (the peak is the scoring's).
  const params: Params = new Map(paramSpecs({ numItems: c.items, numWords: c.words, config }).map((spec) => [spec.name, tf.randomNormal([...spec.shape], 0, 0.05, "float32", 1)]));
  const model = VcmModel.create({ config, backend: currentBackend(), device: currentDevice(), numItems: c.items, numWords: c.words, params, history: [], bestEpoch: 0 });
  const rng = new Rng(1);
  const users = c.work === "rank" ? RANK_USERS : EVALUATE_USERS;
  const clicks = randomCsr({ rows: users, cols: c.items, perRow: 16, maxValue: 1, rng });
  const rows = Array.from({ length: users }, (_, r) => r);
  const modelRssMb = process.memoryUsage().rss / 2 ** 20;
  const started = performance.now();
  if (c.work === "rank") await model.rankItems({ input: { matrix: clicks, rows }, mode: "vcm", k: 20, exclude: clicks, blockItems: c.blockItems });
  else await model.topItems({ input: { matrix: clicks, rows }, mode: "vcm", k: 100, exclude: clicks, blockItems: c.blockItems });
  const seconds = (performance.now() - started) / 1000;
  model.dispose();
  const result: CaseResult = { ...c, seconds, modelRssMb, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  console.log(JSON.stringify(result));
}

function main(): void {
  const { values: a } = parseArgs({
    options: { items: { type: "string", default: "200000" }, words: { type: "string", default: "10000" }, json: { type: "boolean", default: false }, child: { type: "string" } },
  });
  if (a.child !== undefined) {
    void child(JSON.parse(a.child) as Case);
    return;
  }
  const items = Number(a.items);
  const words = Number(a.words);
  console.log(`# bench:scoring-memory ${new Date().toISOString()}: ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, load average (1 min) ${os.loadavg()[0].toFixed(2)}`);
  console.log(`# a VCM model of the default sizes (hiddenX 600) with random weights over ${items} items × ${words} words; rank: ${RANK_USERS} users' top 20 with scores; evaluate: ${EVALUATE_USERS} users' top 100 (evalBatchSize 512 rows a pass)`);
  const results: CaseResult[] = [];
  for (const work of ["rank", "evaluate"] as const) {
    for (const blockItems of [items, ITEM_BLOCK_ITEMS]) {
      const run = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, "--child", JSON.stringify({ work, blockItems, items, words } satisfies Case)], { encoding: "utf8" });
      const line = run.stdout.trim().split("\n").at(-1) ?? "";
      if (run.status !== 0 || !line.startsWith("{")) {
        console.log(`# ${work}, blocks of ${blockItems}: failed (${run.status}): ${run.stderr.trim().split("\n").slice(-3).join(" / ")}`);
        continue;
      }
      const r = JSON.parse(line) as CaseResult;
      results.push(r);
      console.log(`${work.padEnd(9)} ${blockItems === items ? "one block (before)" : `blocks of ${blockItems} (after)`}`.padEnd(44) + `${r.seconds.toFixed(2).padStart(8)} s  peak RSS ${r.peakRssMb.toFixed(0).padStart(6)} MB  (model built: ${r.modelRssMb.toFixed(0)} MB)`);
    }
  }
  console.log(`# load average (1 min) at the end: ${os.loadavg()[0].toFixed(2)}`);
  if (a.json) console.log(JSON.stringify({ date: new Date().toISOString(), items, words, results }));
}

main();
