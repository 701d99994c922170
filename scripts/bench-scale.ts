/**
 * `npm run bench:scale`: one user's top 20 from a VCM model of a large catalogue, exact against
 * approximate retrieval (src/engine/retrieval), on planted weights (planted-model.ts: low-rank item
 * rows plus noise, popularity-like biases; never trained). For each catalogue size, in a process of
 * its own so that its peak RSS is its own, it prints:
 *
 * - exact: p50 and p99 seconds of Recommender.topItems for one user (every item scored, the top k on
 *   the backend), and of the served path before this index (scoreItems, the row's softmax read back,
 *   top k on the host);
 * - approximate: the index's build seconds and estimated bytes, and for the served candidate factor
 *   (CANDIDATE_FACTOR) and others (`--factors`), p50 and p99 seconds of one user's
 *   ApproximateRanker.top and recall@20 against the exact top 20 (target ≥ 0.98);
 * - peak RSS of the process holding the model and its index.
 *
 * With `--serve`, instead, a real `vcm serve` holds a model of the first `--items` size (planted
 * weights over an ingested dataset, bench-scale-serve.ts) and answers `--users` top-k requests one at
 * a time; its peak RSS is read from /proc/PID/status (VmHWM), from outside.
 *
 *   npm run bench:scale -- [--items 200000,1000000] [--hidden 200] [--users 200] [--k 20] [--factors 10,20,40] [--seed 1] [--json]
 *   npm run bench:scale -- --serve --items 1000000 --hidden 100 --users 50 [--retrieval exact|approximate|auto] [--clicks-per-user 50]
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { csrFromRows, type CsrMatrix } from "../src/data/csr.ts";
import { topK } from "../src/engine/metrics.ts";
import { Rng } from "../src/engine/random.ts";
import { ApproximateRanker } from "../src/engine/retrieval/approximate-ranker.ts";
import { CANDIDATE_FACTOR } from "../src/engine/retrieval/retrieval-mode.ts";
import { MIPS_INDEX_SETTINGS } from "../src/engine/retrieval/mips-index.ts";
import { plantedVcmModel } from "../src/engine/retrieval/planted-model.ts";
import { currentBackend, initBackend } from "../src/engine/runtime/index.ts";
import { measureServedModel, printServed } from "./bench-scale-serve.ts";

/** Clicks per benchmark user (excluded from the ranking, as the served ranking excludes training clicks). */
const CLICKS_PER_USER = 10;
/** Words of the planted model (the word side does not grow with the catalogue). */
const WORDS = 2000;

const { values } = parseArgs({
  options: {
    items: { type: "string", default: "200000,1000000" },
    hidden: { type: "string", default: "200" },
    users: { type: "string", default: "200" },
    k: { type: "string", default: "20" },
    factors: { type: "string", default: "" },
    seed: { type: "string", default: "1" },
    one: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    serve: { type: "boolean", default: false },
    retrieval: { type: "string", default: "exact" },
    "clicks-per-user": { type: "string", default: "50" },
  },
});

interface ShapeFigures {
  items: number;
  hidden: number;
  users: number;
  k: number;
  backend: string;
  exactTopItems: { p50: number; p99: number };
  exactServedPath: { p50: number; p99: number };
  /** Per candidate factor: latency and recall@k. */
  approximate: Array<{ factor: number; p50: number; p99: number; recall: number }>;
  buildSeconds: number;
  indexBytes: number;
  peakRssBytes: number;
}

function quantile(sorted: ReadonlyArray<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function spread(seconds: number[]): { p50: number; p99: number } {
  const sorted = [...seconds].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await work();
  return { value, seconds: (performance.now() - started) / 1000 };
}

async function measureShape(o: { items: number; hidden: number; users: number; k: number; seed: number; factors: ReadonlyArray<number> }): Promise<ShapeFigures> {
  await initBackend();
  const model = plantedVcmModel({ items: o.items, words: WORDS, seed: o.seed, config: { hiddenX: o.hidden } });
  const rng = new Rng(o.seed + 1);
  const clicks: CsrMatrix = csrFromRows({
    cols: o.items,
    rows: Array.from({ length: o.users }, () => {
      const chosen = new Set<number>();
      while (chosen.size < CLICKS_PER_USER) chosen.add(Math.floor(o.items * rng.next()));
      return [...chosen].sort((a, b) => a - b).map((c): [number, number] => [c, 1]);
    }),
  });
  const columns = (r: number) => clicks.indices.subarray(clicks.indptr[r], clicks.indptr[r + 1]);
  const exactSeconds: number[] = [];
  const servedSeconds: number[] = [];
  const truth: Int32Array[] = [];
  for (let r = 0; r < o.users; r += 1) {
    const exact = await timed(() => model.topItems({ input: { matrix: clicks, rows: [r] }, mode: "vcm", k: o.k, exclude: clicks }));
    exactSeconds.push(exact.seconds);
    truth.push(exact.value);
    const served = await timed(async () => topK({ scores: await model.scoreItems({ matrix: clicks, rows: [r] }, "vcm"), k: o.k, exclude: columns(r) }));
    servedSeconds.push(served.seconds);
  }
  const ranker = await ApproximateRanker.build(model.innerProductRanking());
  const approximate: ShapeFigures["approximate"] = [];
  for (const factor of o.factors) {
    const seconds: number[] = [];
    let hits = 0;
    for (let r = 0; r < o.users; r += 1) {
      const found = await timed(() => ranker.top({ input: { matrix: clicks, rows: [r] }, mode: "vcm", requests: [{ k: o.k, exclude: columns(r) }], candidateFactor: factor }));
      seconds.push(found.seconds);
      const wanted = new Set(truth[r]);
      for (const item of found.value[0].items) if (wanted.has(item)) hits += 1;
    }
    approximate.push({ factor, ...spread(seconds), recall: hits / (o.users * o.k) });
  }
  const figures: ShapeFigures = {
    items: o.items,
    hidden: o.hidden,
    users: o.users,
    k: o.k,
    backend: currentBackend(),
    exactTopItems: spread(exactSeconds),
    exactServedPath: spread(servedSeconds),
    approximate,
    buildSeconds: ranker.buildSeconds,
    indexBytes: ranker.bytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  model.dispose();
  return figures;
}

const ms = (s: number) => `${(s * 1000).toFixed(2)} ms`;

function print(f: ShapeFigures): void {
  console.log(`${f.items.toLocaleString("en-US")} items, hiddenX ${f.hidden}, ${f.users} users, top ${f.k}, backend ${f.backend}`);
  console.log(`  exact (topItems, top k on the backend)   p50 ${ms(f.exactTopItems.p50)}  p99 ${ms(f.exactTopItems.p99)}`);
  console.log(`  exact (scoreItems + host top k)          p50 ${ms(f.exactServedPath.p50)}  p99 ${ms(f.exactServedPath.p99)}`);
  for (const a of f.approximate) {
    const served = a.factor === CANDIDATE_FACTOR ? " (served)" : "";
    console.log(`  approximate, ${a.factor} × (k + clicks) candidates${served}: p50 ${ms(a.p50)}  p99 ${ms(a.p99)}  recall@${f.k} ${a.recall.toFixed(4)} (target ≥ 0.98)`);
  }
  console.log(`  index build ${f.buildSeconds.toFixed(1)} s, ≈ ${(f.indexBytes / 2 ** 20).toFixed(0)} MiB; peak RSS ${(f.peakRssBytes / 2 ** 30).toFixed(2)} GiB`);
}

const k = Number(values.k);
const hidden = Number(values.hidden);
const users = Number(values.users);
const seed = Number(values.seed);
const factors = [...new Set([CANDIDATE_FACTOR, ...values.factors.split(",").filter((f) => f !== "").map(Number)])];
if (values.serve) {
  // The served scenario: a real server holding a model of the first --items size, measured from outside.
  const figures = await measureServedModel({ items: Number(values.items.split(",")[0]), hidden, clicksPerUser: Number(values["clicks-per-user"]), vocab: WORDS, requests: users, k, seed, retrieval: values.retrieval });
  if (values.json) console.log(JSON.stringify(figures));
  else printServed(figures);
} else if (values.one) {
  // A child run: one shape, its figures as one JSON line.
  console.log(JSON.stringify(await measureShape({ items: Number(values.items), hidden, users, k, seed, factors })));
} else {
  const settings = `candidates ${CANDIDATE_FACTOR} × (k + clicks), HNSW connectivity ${MIPS_INDEX_SETTINGS.connectivity}, ef ${MIPS_INDEX_SETTINGS.expansionAdd}/${MIPS_INDEX_SETTINGS.expansionSearch}, ${MIPS_INDEX_SETTINGS.quantization}`;
  if (!values.json) console.log(`bench:scale on planted weights; ${settings}`);
  const all: ShapeFigures[] = [];
  for (const items of values.items.split(",").map(Number)) {
    const child = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, "--one", "--items", String(items), "--hidden", String(hidden), "--users", String(users), "--k", String(k), "--factors", factors.join(","), "--seed", String(seed)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 20,
    });
    if (child.status !== 0) throw new Error(`the run at ${items} items failed (exit ${child.status ?? child.signal})`);
    const figures = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as ShapeFigures;
    all.push(figures);
    if (!values.json) print(figures);
  }
  if (values.json) console.log(JSON.stringify(all));
}
