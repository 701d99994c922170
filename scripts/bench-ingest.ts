/**
 * `npm run bench:ingest`: writes an Amazon-format JSON-lines file of 1,000,000 reviews with realistic
 * text lengths, ingests it in a child process (so peak RSS is the ingest's alone) and prints
 * reviews/s and peak RSS; then times loadDatasetMatrices on a Yelp-shaped synthetic dataset.
 * Usage: npm run bench:ingest [-- --reviews N] [-- --db postgres://user@host:5432/db]
 * With --db the ingest and the load run on that PostgreSQL database (datasets "bench" and "yelp" are
 * replaced there, then removed); without it, on a SQLite file in a temporary folder.
 * BENCH_CPU_PROF=DIR writes a V8 CPU profile of each child (the ingest, the load) into DIR.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import seedrandom from "seedrandom";
import { syntheticSource, YELP_SHAPE } from "../src/data/generate.ts";
import { amazonSource } from "../src/data/parsers/amazon.ts";
import { dialectOf, openDatabase, redactedUrl } from "../src/db/data-source.ts";
import { deleteDatasetNamed, vacuumDatasetTables } from "../src/db/dataset-rows.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { ingestDataset, type IngestProgress } from "../src/services/ingest.ts";

const self = fileURLToPath(import.meta.url);

async function main(argv: ReadonlyArray<string>): Promise<void> {
  if (argv[0] === "--child-ingest") return childIngest(argv[1], argv[2]);
  if (argv[0] === "--child-load") return childLoad(argv[1]);
  const at = argv.indexOf("--reviews");
  const reviews = at >= 0 ? Number(argv[at + 1]) : 1_000_000;
  const dbAt = argv.indexOf("--db");
  const url = dbAt >= 0 ? argv[dbAt + 1] : undefined;
  if (url !== undefined && dialectOf(url) !== "postgres") throw new Error(`--db takes a postgres:// URL; got ${url}`);
  console.log(`database: ${url === undefined ? "SQLite (a file in a temporary folder)" : `PostgreSQL ${redactedUrl(url)}`}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; ${new Date().toISOString()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-ingest-"));
  try {
    const file = path.join(dir, "reviews.json");
    const written = writeAmazonFile(file, reviews);
    console.log(`wrote ${reviews} reviews, ${(written.bytes / 1e6).toFixed(0)} MB, mean text ${written.meanChars.toFixed(0)} chars (median ${written.medianChars}) in ${written.seconds.toFixed(1)} s`);
    const ingest = runChild(["--child-ingest", file, url ?? path.join(dir, "ingest.sqlite")]);
    console.log(
      `ingest: ${reviews} reviews in ${ingest.seconds.toFixed(1)} s = ${Math.round(reviews / ingest.seconds)} reviews/s, peak RSS ${ingest.peakRssMb.toFixed(0)} MB`,
    );
    console.log(
      `  CPU time of the ingest ${ingest.cpuSeconds.toFixed(1)} s = ${Math.round(reviews / ingest.cpuSeconds)} reviews per CPU-second (the wall-clock rate falls when other work shares the 2 cores)`,
    );
    console.log(`  after preprocessing: ${ingest.users} users, ${ingest.items} items, ${ingest.clicks} clicks, ${ingest.reviewsKept} reviews, vocabulary ${ingest.vocabulary}`);
    fs.rmSync(file);
    const load = runChild(["--child-load", url ?? path.join(dir, "yelp.sqlite")]);
    console.log(
      `Yelp-shaped synthetic dataset (${load.users} users × ${load.items} items × ${load.vocabulary} words, ${load.wordPairs} user-word pairs): ` +
        `generated and stored in ${load.generateSeconds.toFixed(1)} s; loadDatasetMatrices ${(load.loadSeconds * 1000).toFixed(0)} ms (median of 3)`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs this script in a child process and returns the JSON object it prints last. */
function runChild(args: string[]): Record<string, number> {
  const result = spawnSync(process.execPath, [...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), "--import", "tsx", self, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (result.status !== 0) throw new Error(`benchmark child failed (${result.status}): ${result.stdout}`);
  const lines = result.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as Record<string, number>;
}

async function childIngest(file: string, dbPath: string): Promise<void> {
  const dataSource = await openDatabase(dbPath);
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  // Each step's start on stderr, so the phases' shares can be read off one run.
  const onProgress = (event: IngestProgress): void => {
    if (event.phase !== "read") process.stderr.write(`  ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s  ${event.message}\n`);
  };
  const summary = await ingestDataset(dataSource, { name: "bench", replace: true, source: amazonSource({ reviews: file }), onProgress });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await deleteDatasetNamed(dataSource, "bench");
  await vacuumDatasetTables(dataSource);
  await dataSource.destroy();
  console.log(
    JSON.stringify({
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      users: summary.users,
      items: summary.items,
      clicks: summary.clicks,
      reviewsKept: summary.reviews,
      vocabulary: summary.vocabulary,
    }),
  );
}

async function childLoad(dbPath: string): Promise<void> {
  const dataSource = await openDatabase(dbPath);
  const generated = performance.now();
  await ingestDataset(dataSource, { name: "yelp", replace: true, source: syntheticSource(YELP_SHAPE), preprocess: { vocabSize: YELP_SHAPE.vocab } });
  const generateSeconds = (performance.now() - generated) / 1000;
  const times: number[] = [];
  let shape = { users: 0, items: 0, vocabulary: 0, wordPairs: 0 };
  for (let k = 0; k < 3; k++) {
    const started = performance.now();
    const m = await loadDatasetMatrices(dataSource, "yelp");
    times.push((performance.now() - started) / 1000);
    shape = { users: m.train.rows, items: m.train.cols, vocabulary: m.words.cols, wordPairs: m.words.indices.length };
  }
  await deleteDatasetNamed(dataSource, "yelp");
  await vacuumDatasetTables(dataSource);
  await dataSource.destroy();
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ ...shape, generateSeconds, loadSeconds: times[1] }));
}

/**
 * Amazon-like reviews: Zipf-popular users and items, ratings skewed to 5, texts whose word counts
 * follow a log-normal (median ≈ 45 words, long tail) drawn from a Zipf vocabulary with stop words.
 */
function writeAmazonFile(file: string, reviews: number): { bytes: number; meanChars: number; medianChars: number; seconds: number } {
  const started = performance.now();
  const random = seedrandom.alea("bench-ingest");
  const common = "the and a to it i is this for of was my in with but that not on very they have so you are as great good one".split(" ");
  const words: string[] = [...common];
  const syllables = "ba be bi bo bu ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu ra re ri ro ru sa se si so su ta te ti to tu".split(" ");
  while (words.length < 50_000) {
    const n = 2 + Math.floor(random() * 3);
    let w = "";
    for (let s = 0; s < n; s++) w += syllables[Math.floor(random() * syllables.length)];
    words.push(w);
  }
  // A pool of Zipf-distributed word draws; each review reads a window of it.
  const pool: string[] = new Array(1 << 20);
  for (let k = 0; k < pool.length; k++) pool[k] = words[Math.min(words.length - 1, Math.floor(Math.exp(random() * Math.log(words.length + 1)) - 1))];
  const fd = fs.openSync(file, "w");
  let bytes = 0;
  let chars = 0;
  const lengths: number[] = [];
  let batch: string[] = [];
  const users = Math.max(10, Math.round(reviews * 0.12));
  const items = Math.max(10, Math.round(reviews * 0.04));
  for (let k = 0; k < reviews; k++) {
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const length = Math.max(1, Math.min(1500, Math.round(Math.exp(3.8 + 0.9 * gaussian))));
    const offset = Math.floor(random() * (pool.length - length));
    const text = pool.slice(offset, offset + length).join(" ");
    const r = random();
    const rating = r < 0.55 ? 5 : r < 0.75 ? 4 : r < 0.85 ? 3 : r < 0.92 ? 2 : 1;
    const user = Math.floor(users * random() ** 2.2);
    const item = Math.floor(items * random() ** 2);
    const time = 1_300_000_000 + Math.floor(random() * 200_000_000);
    const line = JSON.stringify({
      overall: rating,
      verified: true,
      reviewTime: "09 4, 2015",
      reviewerID: `A${user.toString(36).toUpperCase().padStart(12, "0")}`,
      asin: `B${item.toString(36).toUpperCase().padStart(9, "0")}`,
      style: { "Size:": " Large" },
      reviewerName: "Someone",
      reviewText: text,
      summary: pool.slice(offset, offset + 3).join(" "),
      unixReviewTime: time,
    });
    chars += text.length;
    if (k % 100 === 0) lengths.push(text.length);
    batch.push(line);
    if (batch.length === 10_000) {
      const chunk = `${batch.join("\n")}\n`;
      bytes += Buffer.byteLength(chunk);
      fs.writeSync(fd, chunk);
      batch = [];
    }
  }
  if (batch.length > 0) {
    const chunk = `${batch.join("\n")}\n`;
    bytes += Buffer.byteLength(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  lengths.sort((a, b) => a - b);
  return { bytes, meanChars: chars / reviews, medianChars: lengths[lengths.length >> 1], seconds: (performance.now() - started) / 1000 };
}

await main(process.argv.slice(2));
