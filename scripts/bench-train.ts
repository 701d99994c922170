/**
 * Training-speed benchmark (`npm run bench:train`, docs/model.md §3–4). On random data of a paper shape it
 * prints, side by side: the PyTorch yardstick (../shared/bench/vcm_torch.py), our engine on stock wasm,
 * on wasm with the native OpenBLAS kernels, and on webgpu when a hardware adapter exists. Each engine
 * row runs in its own child process (this script with the hidden `--worker KIND`), one after another,
 * so backends never meet and each peak RSS is that configuration's own.
 *
 *   npm run bench:train -- [--shape yelp|lastfm|movies|catalog-200k] [--epochs N] [--steps 30] [--seed 1] [--hidden N]
 *                          [--only stock,native,webgpu] [--webgpu-software] [--json]
 *                          [--no-torch] [--torch-threads N] [--torch-movies] [--torch-device cpu|cuda] [--rounds N]
 *                          [--users N --items N --vocab N --clicks-per-user N --words-per-user N]
 *                          [--sampled-softmax N] [--sampled-proposal uniform|popularity] [--hidden-x N]
 *
 * Per row: seconds per epoch (median and best of the epochs after the first, training only), the ratio
 * to PyTorch's median, peak RSS; for ours also one validation pass (NDCG@100 over all users, as training
 * runs after each epoch) and the epoch including it. `--shape lastfm` also trains with validation in
 * each epoch. `--shape movies` times `--steps` steps (after 3 warm-up steps) and extrapolates to one
 * epoch; its PyTorch epoch runs only with `--torch-movies` (minutes). `--shape catalog-200k` (100,000
 * users × 200,000 items) does the same without PyTorch; `--hidden N` sets hiddenX and hiddenY (default 600),
 * `--hidden-x N` hiddenX alone; `--sampled-softmax N` and `--sampled-proposal` train with a sampled softmax. `--webgpu-software` forces webgpu
 * onto a software adapter (lavapipe) when there is no hardware one: for smoke tests on small shapes.
 * `--rounds N` runs PyTorch and every row N times in turn (PyTorch, stock, native, …, then again), pools
 * each row's epochs over the rounds, and takes each ratio to PyTorch round by round, printing the
 * median of those: on a shared host whose speed drifts over minutes, a ratio of figures measured
 * minutes apart says more about the drift than about the engines. `--torch-device cuda` runs the
 * yardstick on the GPU (vcm_torch.py --device cuda), the comparison for the webgpu row there.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { NATIVE_ADDON_PATH } from "../src/engine/runtime/native-kernels.ts";
import { defaultWasmThreads } from "../src/engine/runtime/wasm-threads.ts";
import { buildNativeAddon } from "./build-native.ts";
import { relayLines, runTorch, type BenchShape } from "./bench-train-torch.ts";
import type { ProbeResult, RowKind, WorkerPlan, WorkerResult } from "./bench-train-worker.ts";

type ShapeName = "yelp" | "lastfm" | "movies" | "catalog-200k";

/** The paper's dataset shapes (random data of that size), with what each is compared on. */
const SHAPES: Record<ShapeName, BenchShape & { readonly epochs: number; readonly torchThreads: number; readonly mode: WorkerPlan["mode"]; readonly note: string }> = {
  yelp: { users: 6_784, items: 10_003, vocab: 10_000, clicksPerUser: 16, wordsPerUser: 300, epochs: 3, torchThreads: 2, mode: "epochs", note: "" },
  lastfm: {
    users: 1_859,
    items: 2_823,
    vocab: 6_779,
    clicksPerUser: 25,
    wordsPerUser: 60,
    epochs: 5,
    torchThreads: 1,
    mode: "epochs",
    note: " (Last.fm with tags is small and dense in clicks; PyTorch on one thread gives 1.5–2.0 s per epoch)",
  },
  movies: { users: 81_780, items: 24_628, vocab: 10_000, clicksPerUser: 16, wordsPerUser: 300, epochs: 1, torchThreads: 2, mode: "steps", note: "" },
  "catalog-200k": {
    users: 100_000,
    items: 200_000,
    vocab: 10_000,
    clicksPerUser: 16,
    wordsPerUser: 300,
    epochs: 1,
    torchThreads: 2,
    mode: "steps",
    note: " (a catalogue past the paper's shapes, issue 27; the memory estimate is checked first, and a refused run prints its sentence)",
  },
};

const ROWS: ReadonlyArray<RowKind> = ["stock", "native", "webgpu"];
const HELD_OUT_PER_USER = 4;
const WARMUP_STEPS = 3;
/** Validation users timed at the movies shape (the pass is scaled to all users). */
const MOVIES_VALIDATION_USERS = 2_048;
const SCRIPT = fileURLToPath(import.meta.url);

/** One line of the report (and one entry of --json's rows). */
interface RowReport {
  readonly row: "pytorch" | RowKind | `${RowKind}+validation`;
  readonly label: string;
  /** Why the row was not measured. */
  readonly skipped?: string;
  readonly device?: string;
  /** Per-epoch seconds (steps mode: per-step seconds) as measured. */
  readonly measured?: number[];
  /** Seconds per epoch, median and best after the first (extrapolated from steps when `estimated`). */
  readonly median?: number;
  readonly best?: number;
  readonly estimated?: boolean;
  readonly ratioToTorch?: number;
  readonly validationSeconds?: number;
  readonly epochWithValidationSeconds?: number;
  readonly peakRssMb?: number;
}

function positiveInteger(name: string, value: string | number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/**
 * Median and best of the epochs after the first (which includes warm-up), or of the only one; of all of
 * them with `warm` (steps measured after their own warm-up steps).
 */
function steady(seconds: ReadonlyArray<number>, warm = false): { median: number; best: number } {
  const rest = seconds.length > 1 && !warm ? seconds.slice(1) : [...seconds];
  const sorted = [...rest].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, best: sorted[0] };
}

/** Each round's steady epochs (after its first, unless `warm`) pooled, for `steady`. */
function pooled(rounds: ReadonlyArray<ReadonlyArray<number>>, warm = false): number[] {
  return rounds.flatMap((seconds) => (seconds.length > 1 && !warm ? seconds.slice(1) : [...seconds]));
}

/** The configuration fields a run sets over the defaults, in words ("sampledSoftmax 1000, hiddenX 300"), or "full softmax, default sizes". */
function describeConfig(config: WorkerPlan["config"]): string {
  const set = Object.entries(config).map(([k, v]) => `${k} ${String(v)}`);
  return set.length === 0 ? "full softmax, default sizes" : `${config.sampledSoftmax === undefined ? "full softmax, " : ""}${set.join(", ")}`;
}

function median(values: ReadonlyArray<number>): number {
  return steady(values, true).median;
}

function cpuFlags(): Set<string> {
  try {
    const line = fs.readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("flags"));
    return new Set((line ?? "").split(":")[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

function loadAverage(): number {
  return os.loadavg()[0];
}

/** The environment of a child: ours with `changes` applied (undefined removes a variable). */
function childEnv(changes: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs this script as `--worker kind` in a fresh Node process, relays its progress lines under `label`,
 * and parses its last stdout line as JSON; answers with the reason when it gave none.
 */
async function runChild<T>(o: { kind: RowKind | "probe"; label: string; plan?: WorkerPlan; env: NodeJS.ProcessEnv }): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
  // Bundled into one .mjs (the GPU kit, scripts/gpu-kit/), this script runs on plain Node.
  const args = [...(SCRIPT.endsWith(".mjs") ? [] : ["--import", import.meta.resolve("tsx")]), SCRIPT, "--worker", o.kind];
  if (o.plan) args.push("--plan", JSON.stringify(o.plan));
  const child = spawn(process.execPath, args, { env: o.env, stdio: ["ignore", "pipe", "inherit"] });
  let last = "";
  const code = await relayLines(child, (line) => {
    if (line.trim() === "") return;
    if (!line.startsWith("{")) console.log(`  ${o.label} | ${line}`);
    last = line;
  });
  try {
    return { ok: true, value: JSON.parse(last) as T };
  } catch {
    return { ok: false, reason: `its worker exited with code ${code} without a result` };
  }
}

/**
 * The native addon to use: native/build/wasm_sgemm.node when built, else one compiled into a temporary
 * folder (so other processes in this tree keep the stock kernels), or the reason it cannot be built.
 */
function nativeAddon(): { ok: true; addon: string | undefined; where: string } | { ok: false; reason: string } {
  if (fs.existsSync(NATIVE_ADDON_PATH)) return { ok: true, addon: undefined, where: path.relative(process.cwd(), NATIVE_ADDON_PATH) };
  const addon = path.join(os.tmpdir(), "vcm-bench-native", "wasm_sgemm.node");
  if (fs.existsSync(addon)) return { ok: true, addon, where: `${addon} (built earlier by this bench)` };
  const built = buildNativeAddon(addon);
  return built.ok ? { ok: true, addon, where: `${addon} (built now; npm run build:native puts it in native/build/)` } : { ok: false, reason: built.message };
}

type OkResult = Extract<WorkerResult, { ok: true }>;

/** One round's median epoch of a row, training only (steps mode: its median step × steps per epoch). */
function roundEpoch(r: OkResult, plan: WorkerPlan): number {
  return steady(r.seconds, plan.mode === "steps").median * (plan.mode === "steps" ? r.stepsPerEpoch : 1);
}

/** Each round's `pick` of a row ÷ PyTorch's median epoch that round. */
function roundRatios(results: ReadonlyArray<OkResult>, torch: ReadonlyArray<number>, pick: (r: OkResult) => number): number[] {
  return results.map((r, i) => pick(r) / torch[i]);
}

/**
 * Turns a row's worker figures, one result per round, into report rows: training only, and with
 * validation in each epoch when measured. `torch` holds PyTorch's median of each round (undefined
 * without it); each ratio is the median over rounds of that round's own ratio.
 */
function engineRows(o: { kind: RowKind; label: string; results: ReadonlyArray<OkResult>; torch: ReadonlyArray<number> | undefined; plan: WorkerPlan }): RowReport[] {
  const { kind, results, plan } = o;
  const warm = plan.mode === "steps";
  const scale = plan.mode === "steps" ? results[0].stepsPerEpoch : 1;
  const s = steady(pooled(results.map((r) => r.seconds), warm), true);
  const epochMedian = s.median * scale;
  const best = s.best * scale;
  const peakRssMb = Math.max(...results.map((r) => r.peakRssKb)) / 1024;
  const validationSeconds = median(results.map((r) => r.validationSeconds));
  /** The median over rounds of (this round's median of `pick` ÷ PyTorch's median that round). */
  const ratio = (pick: (r: OkResult) => number): number | undefined => (o.torch ? median(roundRatios(results, o.torch, pick)) : undefined);
  const rows: RowReport[] = [
    {
      row: kind,
      label: o.label,
      device: results[0].device,
      measured: results.flatMap((r) => r.seconds),
      median: epochMedian,
      best,
      estimated: plan.mode === "steps",
      ratioToTorch: ratio((r) => roundEpoch(r, plan)),
      validationSeconds,
      epochWithValidationSeconds: epochMedian + validationSeconds,
      peakRssMb,
    },
  ];
  if (results.every((r) => r.withValidationSeconds)) {
    const v = steady(pooled(results.map((r) => r.withValidationSeconds!)), true);
    rows.push({
      row: `${kind}+validation`,
      label: `${o.label}, validation in each epoch`,
      device: results[0].device,
      measured: results.flatMap((r) => r.withValidationSeconds!),
      median: v.median,
      best: v.best,
      estimated: false,
      ratioToTorch: ratio((r) => steady(r.withValidationSeconds!).median),
      epochWithValidationSeconds: v.median,
      peakRssMb,
    });
  }
  return rows;
}

function printTable(rows: ReadonlyArray<RowReport>): void {
  const f = (x: number | undefined, digits = 2, suffix = ""): string => (x === undefined ? "–" : `${x.toFixed(digits)}${suffix}`);
  const header = ["row", "s/epoch median", "best", "× pytorch", "validation s", "epoch+val s", "peak RSS MB"];
  const cells = rows
    .filter((r) => !r.skipped)
    .map((r) => {
      const approx = r.estimated ? "≈ " : "";
      return [
        r.label,
        `${approx}${f(r.median)}`,
        `${approx}${f(r.best)}`,
        f(r.ratioToTorch, 2, "×"),
        r.row.endsWith("+validation") ? "(in epoch)" : `${r.validationSeconds !== undefined ? approx : ""}${f(r.validationSeconds)}`,
        `${r.epochWithValidationSeconds !== undefined ? approx : ""}${f(r.epochWithValidationSeconds)}`,
        f(r.peakRssMb, 0),
      ];
    });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: ReadonlyArray<string>): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
  console.log(line(header));
  for (const c of cells) console.log(line(c));
  for (const r of rows.filter((x) => x.skipped)) console.log(`${r.label}: skipped, ${r.skipped}`);
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      shape: { type: "string", default: "yelp" },
      epochs: { type: "string" },
      steps: { type: "string", default: "30" },
      seed: { type: "string", default: "1" },
      users: { type: "string" },
      items: { type: "string" },
      vocab: { type: "string" },
      "clicks-per-user": { type: "string" },
      "words-per-user": { type: "string" },
      only: { type: "string", default: ROWS.join(",") },
      "webgpu-software": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "no-torch": { type: "boolean", default: false },
      "torch-threads": { type: "string" },
      "torch-movies": { type: "boolean", default: false },
      hidden: { type: "string" },
      "torch-device": { type: "string", default: "cpu" },
      rounds: { type: "string", default: "1" },
      "sampled-softmax": { type: "string" },
      "sampled-proposal": { type: "string" },
      "hidden-x": { type: "string" },
      // Hidden: the child-process side (bench-train-worker.ts).
      worker: { type: "string" },
      plan: { type: "string" },
    },
  });
  if (a.worker !== undefined) {
    await worker(a.worker, a.plan);
    return;
  }
  if (!(a.shape in SHAPES)) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}, got ${a.shape}`);
  const shapeName = a.shape as ShapeName;
  const preset = SHAPES[shapeName];
  const only = a.only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const unknown = only.filter((s) => !ROWS.includes(s as RowKind));
  if (unknown.length > 0 || only.length === 0) throw new Error(`--only takes a comma-separated list of ${ROWS.join(", ")}, got ${a.only}`);
  const shape: BenchShape = {
    users: positiveInteger("users", a.users ?? preset.users),
    items: positiveInteger("items", a.items ?? preset.items),
    vocab: positiveInteger("vocab", a.vocab ?? preset.vocab),
    clicksPerUser: positiveInteger("clicks-per-user", a["clicks-per-user"] ?? preset.clicksPerUser),
    wordsPerUser: positiveInteger("words-per-user", a["words-per-user"] ?? preset.wordsPerUser),
  };
  const seed = positiveInteger("seed", a.seed);
  const epochs = positiveInteger("epochs", a.epochs ?? preset.epochs);
  const torchThreads = positiveInteger("torch-threads", a["torch-threads"] ?? preset.torchThreads);
  const torchDevice = a["torch-device"];
  if (torchDevice !== "cpu" && torchDevice !== "cuda") throw new Error(`--torch-device must be cpu or cuda, got ${torchDevice}`);
  const plan: WorkerPlan = {
    ...shape,
    heldOutPerUser: HELD_OUT_PER_USER,
    seed,
    mode: preset.mode,
    epochs,
    steps: positiveInteger("steps", a.steps),
    warmupSteps: WARMUP_STEPS,
    withValidation: shapeName === "lastfm",
    validationUsers: preset.mode === "steps" ? MOVIES_VALIDATION_USERS : shape.users,
    addon: undefined,
    hidden: a.hidden === undefined ? undefined : positiveInteger("hidden", a.hidden),
    config: {
      ...(a["sampled-softmax"] === undefined ? {} : { sampledSoftmax: positiveInteger("sampled-softmax", a["sampled-softmax"]) }),
      ...(a["sampled-proposal"] === undefined ? {} : { sampledProposal: a["sampled-proposal"] }),
      ...(a["hidden-x"] === undefined ? {} : { hiddenX: positiveInteger("hidden-x", a["hidden-x"]) }),
    },
  };

  const startedAt = new Date().toISOString();
  const flags = cpuFlags();
  const machine = {
    cpu: os.cpus()[0]?.model ?? "unknown CPU",
    cores: os.cpus().length,
    avx512: flags.has("avx512f"),
    avx2: flags.has("avx2"),
    node: process.versions.node,
    loadAverageStart: loadAverage(),
  };
  const stepsPerEpoch = Math.ceil(shape.users / 128);
  console.log(`# bench:train ${startedAt}`);
  console.log(
    `# machine: ${machine.cpu}, ${machine.cores} cores, AVX-512 ${machine.avx512 ? "yes" : "no"}, AVX2 ${machine.avx2 ? "yes" : "no"}, ` +
      `Node ${machine.node}, load average (1 min) ${machine.loadAverageStart.toFixed(2)} at start`,
  );
  console.log(
    `# shape ${shapeName}: ${shape.users} users × ${shape.items} items × ${shape.vocab} words, ~${shape.clicksPerUser} train clicks and ` +
      `~${shape.wordsPerUser} distinct words per user, ~${HELD_OUT_PER_USER} validation clicks per user (random data, seed ${seed})${preset.note}`,
  );
  console.log(
    preset.mode === "epochs"
      ? `# ours (${describeConfig(plan.config)}): ${epochs} whole epochs of ${stepsPerEpoch} steps (batch 128), training only; then one validation pass timed apart` +
          (plan.withValidation ? `; then ${epochs} epochs again with validation in each` : "")
      : `# ours (${describeConfig(plan.config)}): measured fraction: ${plan.steps} of ${stepsPerEpoch} steps (${((100 * plan.steps) / stepsPerEpoch).toFixed(1)}% of an epoch, after ` +
          `${WARMUP_STEPS} warm-up steps), extrapolated to one epoch; validation timed on ${Math.min(plan.validationUsers, shape.users)} users and scaled to all`,
  );

  const rounds = positiveInteger("rounds", a.rounds);
  const kinds = ROWS.filter((k) => only.includes(k));
  const prepared = new Map<RowKind, Awaited<ReturnType<typeof prepareRow>>>();
  for (const kind of kinds) prepared.set(kind, await prepareRow({ kind, plan, webgpuSoftware: a["webgpu-software"] }));
  const torchRounds: TorchRound[] = [];
  const results = new Map<RowKind, Array<OkResult>>();
  const failures = new Map<RowKind, string>();
  for (let round = 1; round <= rounds; round += 1) {
    if (rounds > 1) console.log(`# round ${round} of ${rounds}`);
    const torch = await torchRound({ shape, shapeName, epochs, seed, torchThreads, torchDevice, skip: a["no-torch"], torchMovies: a["torch-movies"] });
    torchRounds.push(torch);
    for (const kind of kinds) {
      const ready = prepared.get(kind)!;
      if (failures.has(kind)) continue;
      if (!ready.ok) {
        if (round === 1) console.log(`# ${kind}: ${ready.reason}`);
        failures.set(kind, ready.reason);
        continue;
      }
      console.log(`# ${ready.label}: running in its own process`);
      const child = await runChild<WorkerResult>({ kind, label: kind, plan: ready.plan, env: childEnv(ready.env) });
      const result: WorkerResult = child.ok ? child.value : { ok: false, kind, reason: child.reason };
      if (!result.ok) {
        console.log(`# ${kind}: skipped (${result.reason})`);
        failures.set(kind, result.reason);
        continue;
      }
      results.set(kind, [...(results.get(kind) ?? []), result]);
    }
  }

  const rows: RowReport[] = [];
  const torch = torchReport({ rounds: torchRounds, torchThreads });
  rows.push(torch.row);
  for (const kind of kinds) {
    const ready = prepared.get(kind)!;
    const failure = failures.get(kind);
    const done = results.get(kind) ?? [];
    if (failure !== undefined || done.length === 0) {
      rows.push({ row: kind, label: ready.label, skipped: failure ?? "no result" });
      continue;
    }
    // The worker names the adapter webgpu actually ran on.
    const label = kind === "webgpu" ? `webgpu (${done[0].device})` : ready.label;
    rows.push(...engineRows({ kind, label, results: done, torch: torch.medians, plan }));
  }
  if (rounds > 1 && torch.medians) {
    for (const kind of kinds) {
      const done = results.get(kind);
      if (!done || failures.has(kind)) continue;
      const perRound = roundRatios(done, torch.medians, (r) => roundEpoch(r, plan));
      console.log(`# ${kind} ÷ PyTorch, round by round: ${perRound.map((x) => x.toFixed(2)).join(", ")} → median ${median(perRound).toFixed(2)}`);
    }
  }

  const loadAverageEnd = loadAverage();
  console.log("");
  printTable(rows);
  console.log(
    `# s/epoch: median and best of the epochs after the first (of each round, pooled; training only; "≈": median or best step × steps per epoch); ` +
      `× pytorch divides by PyTorch's median (with --rounds: the median over rounds of each round's ratio); ` +
      `validation s: one NDCG@100 pass over all users; epoch+val s: median + that pass. PyTorch's epochs have no validation pass.`,
  );
  console.log(`# load average (1 min) at the end: ${loadAverageEnd.toFixed(2)}`);
  if (a.json) {
    console.log(JSON.stringify({ date: startedAt, machine: { ...machine, loadAverageEnd }, shape: { name: shapeName, ...shape }, plan, rounds, rows }));
  }
}

/** One run of the PyTorch yardstick: its epochs, or why it was skipped. */
type TorchRound =
  | { readonly ok: true; readonly seconds: number[]; readonly threads: number; readonly blas: string; readonly peakKb: number }
  | { readonly ok: false; readonly reason: string };

/** Runs the PyTorch yardstick once (a round's first row). */
async function torchRound(o: {
  shape: BenchShape;
  shapeName: ShapeName;
  epochs: number;
  seed: number;
  torchThreads: number;
  torchDevice: "cpu" | "cuda";
  skip: boolean;
  torchMovies: boolean;
}): Promise<TorchRound> {
  const skipped = o.skip
    ? "--no-torch"
    : o.shapeName === "catalog-200k"
      ? "not run at this shape"
      : o.shapeName === "movies" && !o.torchMovies
        ? "an epoch at this shape takes minutes; --torch-movies runs one"
        : undefined;
  if (skipped) return { ok: false, reason: skipped };
  const epochs = o.shapeName === "movies" ? 1 : o.epochs;
  const torch = await runTorch({ shape: o.shape, epochs, seed: o.seed, threads: o.torchThreads, device: o.torchDevice });
  return torch.ok ? { ok: true, seconds: torch.seconds, threads: torch.threads, blas: torch.blas, peakKb: torch.peakKb } : { ok: false, reason: torch.reason };
}

/** PyTorch's report row over its rounds, and its median epoch of each round (undefined when any round lacks it). */
function torchReport(o: { rounds: ReadonlyArray<TorchRound>; torchThreads: number }): { row: RowReport; medians: number[] | undefined } {
  const label = `PyTorch (${o.torchThreads} thread${o.torchThreads === 1 ? "" : "s"})`;
  const failed = o.rounds.find((r) => !r.ok);
  if (failed && !failed.ok) {
    console.log(`# PyTorch: skipped (${failed.reason})`);
    return { row: { row: "pytorch", label, skipped: failed.reason }, medians: undefined };
  }
  const runs = o.rounds.filter((r): r is Extract<TorchRound, { ok: true }> => r.ok);
  const s = steady(pooled(runs.map((r) => r.seconds)), true);
  const blas = runs[0].blas.startsWith("OpenBLAS") ? "OpenBLAS" : runs[0].blas.split(" ")[0];
  const cuda = runs[0].blas === "CUDA";
  return {
    row: {
      row: "pytorch",
      label: cuda ? "PyTorch (CUDA)" : `PyTorch (${runs[0].threads} thread${runs[0].threads === 1 ? "" : "s"}, ${blas})`,
      device: cuda ? "torch on the GPU (CUDA)" : `torch on CPU, BLAS ${runs[0].blas}`,
      measured: runs.flatMap((r) => r.seconds),
      median: s.median,
      best: s.best,
      estimated: false,
      ratioToTorch: 1,
      peakRssMb: Math.max(...runs.map((r) => r.peakKb)) / 1024,
    },
    medians: runs.map((r) => steady(r.seconds).median),
  };
}

/**
 * What a row needs before its child starts: the environment that selects its configuration, the native
 * addon's path, or for webgpu a probe child that starts the backend on auto (hardware adapters only).
 */
async function prepareRow(o: {
  kind: RowKind;
  plan: WorkerPlan;
  webgpuSoftware: boolean;
}): Promise<{ ok: true; label: string; plan: WorkerPlan; env: Record<string, string | undefined> } | { ok: false; label: string; reason: string }> {
  switch (o.kind) {
    case "stock":
      // tfjs's own kernels, as npm ci gives them without OpenBLAS: the threaded build, one thread per
      // core unless VCM_WASM_THREADS says otherwise (1: the single-threaded build).
      return {
        ok: true,
        label: `wasm, stock kernels, ${process.env.VCM_WASM_THREADS ?? String(defaultWasmThreads())} thread(s)`,
        plan: o.plan,
        env: { VCM_BACKEND: "wasm", VCM_NATIVE_MATMUL: "off" },
      };
    case "native": {
      const label = "wasm + native OpenBLAS";
      const addon = nativeAddon();
      if (!addon.ok) return { ok: false, label, reason: `the native addon cannot be built: ${addon.reason}` };
      console.log(`# native addon: ${addon.where}`);
      return { ok: true, label, plan: { ...o.plan, addon: addon.addon }, env: { VCM_BACKEND: "wasm", VCM_NATIVE_MATMUL: "on", VCM_WASM_THREADS: "1" } };
    }
    case "webgpu": {
      const probe = await runChild<ProbeResult>({ kind: "probe", label: "probe", env: childEnv({ VCM_BACKEND: undefined }) });
      if (probe.ok && probe.value.backend === "webgpu") {
        return { ok: true, label: `webgpu (${probe.value.device})`, plan: o.plan, env: { VCM_BACKEND: "webgpu" } };
      }
      const why = probe.ok ? `auto picks ${probe.value.backend}: ${probe.value.reason ?? "no reason given"}` : `the probe failed: ${probe.reason}`;
      if (o.webgpuSoftware) {
        console.log(`# webgpu: no hardware adapter here (${why}); --webgpu-software forces VCM_BACKEND=webgpu`);
        return { ok: true, label: "webgpu (software adapter)", plan: o.plan, env: { VCM_BACKEND: "webgpu" } };
      }
      return { ok: false, label: "webgpu", reason: `no hardware adapter here (${why})` };
    }
    default: {
      const never: never = o.kind;
      throw new Error(`unknown row ${String(never)}`);
    }
  }
}

/** The child-process side: imported only here, so the parent never loads an engine backend. */
async function worker(kind: string, planJson: string | undefined): Promise<void> {
  const { runProbe, runWorker } = await import("./bench-train-worker.ts");
  if (kind === "probe") {
    await runProbe();
  } else {
    if (!ROWS.includes(kind as RowKind) || planJson === undefined) throw new Error(`--worker takes ${ROWS.join(", ")} or probe, with --plan`);
    try {
      await runWorker(kind as RowKind, JSON.parse(planJson) as WorkerPlan);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      console.log(JSON.stringify({ ok: false, kind: kind as RowKind, reason: `the worker failed: ${reason}` } satisfies WorkerResult));
      if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    }
  }
  // Dawn and tfjs can keep handles open after the work is done; the result is already written.
  process.exit(0);
}

await main();
