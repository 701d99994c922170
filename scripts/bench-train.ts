/**
 * Training-speed benchmark (`npm run bench:train`). On random data of the Yelp shape it trains `vcm`
 * for a few whole epochs with the real training loop, then runs the PyTorch yardstick
 * (../shared/bench/vcm_torch.py) on the same shape, and prints both seconds per epoch, their ratio
 * and peak memory. `--shape movies` instead times a measured number of steps at the Movies shape and
 * extrapolates them to one epoch (it says so).
 *
 *   npm run bench:train -- [--shape yelp|movies] [--epochs 3] [--steps 40] [--users N --items N --vocab N]
 *                          [--clicks-per-user 16] [--words-per-user 300] [--backend wasm|cpu|tensorflow]
 *                          [--no-torch] [--torch-threads 2] [--native]
 *
 * --native uses the optional OpenBLAS matMul addon on wasm (npm run build:native), compiling it to a
 * temporary folder first when it is not built, so the stock and native paths can both be measured.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { BackendChoice } from "../src/config.ts";
import type { CsrMatrix } from "../src/data/csr.ts";
import { Adam } from "../src/engine/adam.ts";
import { initBackend } from "../src/engine/backend.ts";
import { enableNativeMatMul, NATIVE_ADDON_PATH, nativeMatMulEnabled } from "../src/engine/native-matmul.ts";
import { buildNativeAddon } from "./build-native.ts";
import { resolveVcmConfig } from "../src/engine/config.ts";
import { evaluateRanking } from "../src/engine/evaluate.ts";
import { Rng } from "../src/engine/random.ts";
import { initParams, trainModel, trainStep } from "../src/engine/train.ts";
import type { EpochRecord } from "../src/engine/types.ts";

/** The paper's Table 1 shapes (users × items; vocabulary 10,000 for both). */
const SHAPES = {
  yelp: { users: 6_784, items: 10_003, vocab: 10_000 },
  movies: { users: 81_780, items: 24_628, vocab: 10_000 },
} as const;

const TORCH_SCRIPT = path.resolve("..", "shared", "bench", "vcm_torch.py");
const PYTHON = "/usr/bin/python3";

/** Random rows with about `perRow` distinct columns (normal approximation of a Poisson count, at least 1). */
function randomCsr(options: { rows: number; cols: number; perRow: number; maxValue: number; rng: Rng }): CsrMatrix {
  const { rows, cols, perRow, maxValue, rng } = options;
  const indptr = new Int32Array(rows + 1);
  let nnz = 0;
  const counts = new Int32Array(rows);
  for (let r = 0; r < rows; r += 1) {
    counts[r] = Math.max(1, Math.min(cols, Math.round(perRow + Math.sqrt(perRow) * rng.normal())));
    nnz += counts[r];
    indptr[r + 1] = nnz;
  }
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  for (let r = 0; r < rows; r += 1) {
    const chosen = new Set<number>();
    while (chosen.size < counts[r]) chosen.add(Math.floor(rng.next() * cols));
    const sorted = Int32Array.from(chosen).sort();
    indices.set(sorted, indptr[r]);
    for (let k = indptr[r]; k < indptr[r + 1]; k += 1) values[k] = 1 + Math.floor(rng.next() * maxValue);
  }
  return { rows, cols, indptr, indices, values };
}

/** A matrix of the same shape with no entries: validation then scores nobody, so epochs time training only. */
function emptyCsr(rows: number, cols: number): CsrMatrix {
  return { rows, cols, indptr: new Int32Array(rows + 1), indices: new Int32Array(0), values: new Float32Array(0) };
}

/**
 * Median and best of the epochs after the first (the first includes warm-up), or of the only epoch.
 * On a shared machine the best epoch is the one least disturbed by other work.
 */
function steadyEpochSeconds(seconds: ReadonlyArray<number>): { median: number; best: number } {
  const steady = seconds.length > 1 ? seconds.slice(1) : [...seconds];
  const sorted = [...steady].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, best: sorted[0] };
}

function mb(kilobytes: number): string {
  return `${(kilobytes / 1024).toFixed(0)} MB`;
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  return `${os.cpus().length} × ${cpu}, Node ${process.versions.node}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB RAM, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      shape: { type: "string", default: "yelp" },
      epochs: { type: "string", default: "3" },
      steps: { type: "string", default: "40" },
      users: { type: "string" },
      items: { type: "string" },
      vocab: { type: "string" },
      "clicks-per-user": { type: "string", default: "16" },
      "words-per-user": { type: "string", default: "300" },
      backend: { type: "string" },
      "no-torch": { type: "boolean", default: false },
      native: { type: "boolean", default: false },
      "torch-threads": { type: "string", default: String(os.cpus().length) },
      seed: { type: "string", default: "1" },
    },
  });
  if (a.shape !== "yelp" && a.shape !== "movies") throw new Error(`--shape must be yelp or movies, got ${a.shape}`);
  const base = SHAPES[a.shape];
  const shape = {
    users: Number(a.users ?? base.users),
    items: Number(a.items ?? base.items),
    vocab: Number(a.vocab ?? base.vocab),
    clicksPerUser: Number(a["clicks-per-user"]),
    wordsPerUser: Number(a["words-per-user"]),
  };
  const backend = await initBackend(a.backend as BackendChoice | undefined);
  if (a.native && backend === "wasm" && !nativeMatMulEnabled()) {
    let addon = NATIVE_ADDON_PATH;
    if (!fs.existsSync(addon)) {
      // Built outside the tree so other processes keep the stock kernels; reused by later runs.
      addon = path.join(os.tmpdir(), "vcm-bench-native", "wasm_sgemm.node");
      const built = fs.existsSync(addon) ? { ok: true, message: "" } : buildNativeAddon(addon);
      if (!built.ok) throw new Error(`--native: ${built.message}`);
    }
    if (!enableNativeMatMul(addon)) throw new Error(`--native: the addon at ${addon} did not load`);
  }
  console.log(`# bench:train ${new Date().toISOString()}`);
  console.log(`# machine: ${machine()}`);
  console.log(
    `# shape ${a.shape}: ${shape.users} users × ${shape.items} items × ${shape.vocab} words, ` +
      `~${shape.clicksPerUser} clicks and ~${shape.wordsPerUser} distinct words per user (random data); backend ${backend}` +
      (backend === "wasm" ? `, matMul ${nativeMatMulEnabled() ? "through the native OpenBLAS addon" : "in stock wasm kernels"}` : ""),
  );
  const rng = new Rng(Number(a.seed));
  const t0 = performance.now();
  const train = randomCsr({ rows: shape.users, cols: shape.items, perRow: shape.clicksPerUser, maxValue: 1, rng });
  const words = randomCsr({ rows: shape.users, cols: shape.vocab, perRow: shape.wordsPerUser, maxValue: 5, rng });
  console.log(`# random data built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  if (a.shape === "movies") {
    await moviesFraction({ train, words, steps: Number(a.steps), seed: Number(a.seed) });
    return;
  }

  const epochs = Number(a.epochs);
  const config = resolveVcmConfig({ variant: "vcm", epochs, seed: Number(a.seed) });
  const records: EpochRecord[] = [];
  const model = await trainModel({
    train,
    validation: emptyCsr(shape.users, shape.items),
    words,
    config,
    onEpoch: (r) => {
      records.push(r);
      console.log(`ours  epoch ${r.epoch}: ${r.seconds.toFixed(2)} s  (−Lx ${r.reconX.toFixed(2)}, −Ly ${r.reconY.toFixed(1)})`);
    },
  });
  // Real training also ranks every validation user once per epoch to pick the best epoch; time that pass.
  const validation = randomCsr({ rows: shape.users, cols: shape.items, perRow: Math.max(1, shape.clicksPerUser / 3), maxValue: 1, rng });
  const v0 = performance.now();
  evaluateRanking({ model, mode: "vcm", input: train, heldOut: validation, exclude: train, ks: [100] });
  const validationSeconds = (performance.now() - v0) / 1000;
  model.dispose();
  const ours = steadyEpochSeconds(records.map((r) => r.seconds));
  const oursRss = process.resourceUsage().maxRSS;
  const steps = Math.ceil(shape.users / config.batchSize);
  const rule = records.length > 1 ? `epochs 2–${records.length}; epoch 1 is warm-up` : "one epoch, includes warm-up";
  console.log(
    `ours: median ${ours.median.toFixed(2)} s/epoch, best ${ours.best.toFixed(2)} s/epoch (${rule}; ${steps} steps of ${config.batchSize}, ` +
      `training only: no validation users), peak RSS ${mb(oursRss)}`,
  );
  console.log(`ours: one validation pass (NDCG@100 over all ${shape.users} users) takes ${validationSeconds.toFixed(2)} s more per epoch in real training`);

  const torch = a["no-torch"] ? undefined : await runTorch({ shape, epochs, seed: Number(a.seed), threads: Number(a["torch-threads"]) });
  if (torch) {
    const t = steadyEpochSeconds(torch.seconds);
    console.log(
      `pytorch: median ${t.median.toFixed(2)} s/epoch, best ${t.best.toFixed(2)} s/epoch (same rule; its epochs: ${torch.seconds.map((x) => x.toFixed(2)).join(", ")}), ` +
        `peak RSS ≈ ${mb(torch.peakKb)}`,
    );
    console.log(`ratio ours / pytorch = ${(ours.median / t.median).toFixed(2)} (medians), ${(ours.best / t.best).toFixed(2)} (best epochs)`);
  }
  console.log(`# load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}

/** Times `steps` optimiser steps at the current shape and extrapolates them to one epoch. */
async function moviesFraction(options: { train: CsrMatrix; words: CsrMatrix; steps: number; seed: number }): Promise<void> {
  const { train, words, steps } = options;
  const config = resolveVcmConfig({ variant: "vcm", seed: options.seed });
  const params = initParams({ numItems: train.cols, numWords: words.cols, config });
  const names = [...params.keys()];
  const adam = new Adam(
    names.map((n) => params.get(n)!.size),
    { learningRate: config.learningRate },
  );
  const parameters = names.reduce((s, n) => s + params.get(n)!.size, 0);
  const rng = new Rng(options.seed + 1);
  const order = rng.permutation(train.rows);
  const stepsPerEpoch = Math.ceil(train.rows / config.batchSize);
  const warmup = 3;
  const run = (i: number): void => {
    const start = (i * config.batchSize) % train.rows;
    const rows = order.subarray(start, start + config.batchSize);
    trainStep({ params, names, adam, part: "vcm", beta: 0.2, rows, rng, train, words, config });
  };
  for (let i = 0; i < warmup; i += 1) run(i);
  const t0 = performance.now();
  for (let i = warmup; i < warmup + steps; i += 1) run(i);
  const seconds = (performance.now() - t0) / 1000;
  const perStep = seconds / steps;
  console.log(`ours: ${parameters.toLocaleString("en-US")} parameters, ${steps} steps measured after ${warmup} warm-up steps: ${(perStep * 1000).toFixed(0)} ms/step`);
  console.log(
    `ours: ≈ ${(perStep * stepsPerEpoch).toFixed(0)} s/epoch ESTIMATED by extrapolating ${steps} of ${stepsPerEpoch} steps ` +
      `(${((100 * steps) / stepsPerEpoch).toFixed(1)}% of an epoch; training only, no validation), peak RSS ${mb(process.resourceUsage().maxRSS)}`,
  );
  adam.dispose();
  params.forEach((t) => t.dispose());
  console.log("# the PyTorch yardstick is not run at this shape (it trains whole epochs only).");
}

/**
 * Which BLAS Debian's torch gets through the libblas.so.3 alternative: with only the reference
 * (netlib) BLAS installed its matMuls are several times slower, and so is the yardstick.
 */
function blasLibrary(): string {
  try {
    const target = fs.realpathSync("/usr/lib/x86_64-linux-gnu/libblas.so.3");
    if (target.includes("openblas")) return `OpenBLAS (${target})`;
    return `${target} — the reference BLAS: the yardstick is several times slower with it; apt-get install -y libopenblas0-pthread`;
  } catch {
    return "unknown (no /usr/lib/x86_64-linux-gnu/libblas.so.3)";
  }
}

/** Runs the PyTorch yardstick on the same shape; undefined (with a message) when python3-torch is missing. */
async function runTorch(options: {
  shape: { users: number; items: number; vocab: number; clicksPerUser: number; wordsPerUser: number };
  epochs: number;
  seed: number;
  threads: number;
}): Promise<{ seconds: number[]; peakKb: number } | undefined> {
  if (!fs.existsSync(TORCH_SCRIPT)) {
    console.log(`# skipping PyTorch: ${TORCH_SCRIPT} is not there`);
    return undefined;
  }
  const probe = spawnSync(PYTHON, ["-c", "import torch, numpy"], { encoding: "utf8" });
  if (probe.status !== 0) {
    console.log(`# skipping PyTorch: ${PYTHON} cannot import torch (install Debian's python3-torch: apt-get install -y python3-torch)`);
    return undefined;
  }
  console.log(`# PyTorch's BLAS: ${blasLibrary()}`);
  const { shape } = options;
  const args = [
    TORCH_SCRIPT,
    "--users", String(shape.users),
    "--items", String(shape.items),
    "--vocab", String(shape.vocab),
    "--clicks-per-user", String(shape.clicksPerUser),
    "--words-per-user", String(shape.wordsPerUser),
    "--epochs", String(options.epochs),
    "--seed", String(options.seed),
    "--threads", String(options.threads),
  ];
  console.log(`# running ${PYTHON} ${args.map((x) => path.relative(process.cwd(), x) || x).join(" ")}`);
  const child = spawn(PYTHON, args, { stdio: ["ignore", "pipe", "inherit"] });
  let peakKb = 0;
  // Linux keeps a process's peak resident size in VmHWM; sampling it is enough for a figure in MB.
  const poll = setInterval(() => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // The process has just exited.
    }
  }, 200);
  const seconds: number[] = [];
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    out += chunk;
    let nl = out.indexOf("\n");
    while (nl >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      console.log(`torch ${line}`);
      const m = /^epoch \d+: seconds=([\d.]+)/.exec(line);
      if (m) seconds.push(Number(m[1]));
      nl = out.indexOf("\n");
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearInterval(poll);
  if (code !== 0 || seconds.length === 0) {
    console.log(`# PyTorch run failed (exit code ${code}); no ratio`);
    return undefined;
  }
  return { seconds, peakKb };
}

await main();
