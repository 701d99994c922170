/**
 * The child-process half of `npm run bench:train`: one engine configuration per process (chosen by
 * VCM_BACKEND and VCM_NATIVE_MATMUL in its environment), so backends never share a process and the
 * peak RSS belongs to that configuration alone. It builds the same seeded random data as every other
 * row, times training, then one validation pass, and prints one JSON line last (a WorkerResult).
 */
import type { CsrMatrix } from "../src/data/csr.ts";
import { Adam } from "../src/engine/runtime/adam.ts";
import { currentBackend, currentDevice, initBackend, trainingMemoryLimit, webgpuRefusal } from "../src/engine/runtime/index.ts";
import { memoryRefusal } from "../src/engine/memory.ts";
import { resolveVcmConfig, type VcmConfig } from "../src/engine/config.ts";
import { evaluateRanking } from "../src/engine/evaluate.ts";
import { annealedBeta } from "../src/engine/models/vcm/losses.ts";
import { VcmModel } from "../src/engine/models/vcm/model.ts";
import { enableNativeMatMul, nativeMatMulEnabled } from "../src/engine/runtime/native-kernels.ts";
import { Rng } from "../src/engine/random.ts";
import { initParams, trainStep, updatableInPlace } from "../src/engine/models/vcm/train.ts";
import { trainModel, type Recommender } from "../src/engine/models/index.ts";
import { paramSpecs } from "../src/engine/models/vcm/vae.ts";

/** The engine rows the parent can ask for. */
export type RowKind = "stock" | "native" | "webgpu";
export const ROW_KINDS: ReadonlyArray<RowKind> = ["stock", "native", "webgpu"];

/** Everything a worker needs to build the data and time it, as the parent resolved it from the flags. */
export interface WorkerPlan {
  readonly users: number;
  readonly items: number;
  readonly vocab: number;
  readonly clicksPerUser: number;
  readonly wordsPerUser: number;
  /** Mean held-out validation clicks per user (never a training click). */
  readonly heldOutPerUser: number;
  readonly seed: number;
  /** "epochs": whole epochs with the training loop; "steps": a measured number of steps, extrapolated. */
  readonly mode: "epochs" | "steps";
  readonly epochs: number;
  readonly steps: number;
  readonly warmupSteps: number;
  /** Also train whole epochs WITH the validation pass in each (record.seconds then includes it). */
  readonly withValidation: boolean;
  /** Validation users to time in "steps" mode (the pass is extrapolated to all users); all in "epochs" mode. */
  readonly validationUsers: number;
  /** A native addon built outside native/build/, loaded when initBackend did not find one. */
  readonly addon: string | undefined;
  /** hiddenX and hiddenY, when not the default. */
  readonly hidden?: number;
  /** Configuration fields over the defaults (`--sampled-softmax`, `--sampled-proposal`, `--hidden-x`). */
  readonly config: Readonly<Partial<Record<"sampledSoftmax" | "sampledProposal" | "hiddenX", number | string>>>;
}

/** What a worker found, printed as its last stdout line. */
export type WorkerResult =
  | {
      readonly ok: true;
      readonly kind: RowKind;
      readonly backend: string;
      readonly device: string;
      readonly parameters: number;
      readonly dataSeconds: number;
      /** Training-only seconds of each epoch (epochs mode), or of each measured step (steps mode). */
      readonly seconds: number[];
      /** Steps in one epoch: ceil(users / batch). */
      readonly stepsPerEpoch: number;
      /** Seconds of one validation pass (NDCG@100 over all users; extrapolated from `validationUsers` in steps mode). */
      readonly validationSeconds: number;
      readonly validationUsers: number;
      readonly validationNdcg100: number;
      /** Epoch seconds with validation in each epoch, when the plan asked for them. */
      readonly withValidationSeconds: number[] | undefined;
      readonly peakRssKb: number;
    }
  | { readonly ok: false; readonly kind: RowKind; readonly reason: string };

/** What the webgpu probe found: the backend auto picks, its device, and why it is not webgpu. */
export interface ProbeResult {
  readonly backend: string;
  readonly device: string;
  readonly reason: string | undefined;
}

/** Random rows with about `perRow` distinct columns (normal approximation of a Poisson count, at least 1). */
export function randomCsr(options: { rows: number; cols: number; perRow: number; maxValue: number; rng: Rng }): CsrMatrix {
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

/** Binary held-out clicks, about `perRow` per row, none of them among the row's clicks in `train`. */
export function heldOutCsr(options: { train: CsrMatrix; perRow: number; rng: Rng }): CsrMatrix {
  const { train, perRow, rng } = options;
  const indptr = new Int32Array(train.rows + 1);
  const rowsOf: Int32Array[] = [];
  for (let r = 0; r < train.rows; r += 1) {
    const taken = new Set(train.indices.subarray(train.indptr[r], train.indptr[r + 1]));
    const free = train.cols - taken.size;
    const n = Math.max(1, Math.min(free, Math.round(perRow + Math.sqrt(perRow) * rng.normal())));
    const chosen = new Set<number>();
    while (chosen.size < n) {
      const c = Math.floor(rng.next() * train.cols);
      if (!taken.has(c)) chosen.add(c);
    }
    rowsOf.push(Int32Array.from(chosen).sort());
    indptr[r + 1] = indptr[r] + n;
  }
  const indices = new Int32Array(indptr[train.rows]);
  rowsOf.forEach((cols, r) => indices.set(cols, indptr[r]));
  return { rows: train.rows, cols: train.cols, indptr, indices, values: new Float32Array(indices.length).fill(1) };
}

/** A matrix of the same shape with no entries: validation then scores nobody, so epochs time training only. */
function emptyCsr(rows: number, cols: number): CsrMatrix {
  return { rows, cols, indptr: new Int32Array(rows + 1), indices: new Int32Array(0), values: new Float32Array(0) };
}

/** The data every row trains on: the same seed gives the same matrices in every worker. */
function buildData(plan: WorkerPlan): { train: CsrMatrix; words: CsrMatrix; validation: CsrMatrix } {
  const rng = new Rng(plan.seed);
  const train = randomCsr({ rows: plan.users, cols: plan.items, perRow: plan.clicksPerUser, maxValue: 1, rng });
  const words = randomCsr({ rows: plan.users, cols: plan.vocab, perRow: plan.wordsPerUser, maxValue: 5, rng });
  const validation = heldOutCsr({ train, perRow: plan.heldOutPerUser, rng });
  return { train, words, validation };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the backend the environment asks for and checks it is the configuration the row stands for;
 * answers with the reason when it is not. The native addon is retried a few times, since it may be
 * being rebuilt (npm run build:native) while the bench runs.
 */
async function startBackend(kind: RowKind, plan: WorkerPlan): Promise<string | undefined> {
  const backend = await initBackend();
  switch (kind) {
    case "stock":
      if (backend !== "wasm") return `the wasm backend did not start (got ${backend})`;
      return nativeMatMulEnabled() ? "the native kernels are on although VCM_NATIVE_MATMUL=off" : undefined;
    case "native":
      if (backend !== "wasm") return `the wasm backend did not start (got ${backend})`;
      for (let attempt = 0; attempt < 4 && !nativeMatMulEnabled(); attempt += 1) {
        if (attempt > 0) await sleep(2000);
        if (plan.addon) enableNativeMatMul(plan.addon);
        else enableNativeMatMul();
      }
      return nativeMatMulEnabled() ? undefined : `the native addon ${plan.addon ?? "native/build/wasm_sgemm.node"} did not load (4 tries, 2 s apart)`;
    case "webgpu":
      return backend === "webgpu" ? undefined : `the webgpu backend did not start (got ${backend})`;
    default: {
      const never: never = kind;
      throw new Error(`unknown row ${String(never)}`);
    }
  }
}

/** Seconds of one `evaluateRanking` call over `rows` (all users when absent): the pass training runs each epoch. */
async function timeValidation(o: { model: Recommender; train: CsrMatrix; validation: CsrMatrix; rows?: ReadonlyArray<number> }): Promise<{ seconds: number; ndcg100: number }> {
  const t0 = performance.now();
  const result = await evaluateRanking({ model: o.model, mode: "vcm", input: o.train, heldOut: o.validation, exclude: o.train, ks: [100], rows: o.rows });
  return { seconds: (performance.now() - t0) / 1000, ndcg100: result.means["ndcg@100"] };
}

/** Whole epochs with the real training loop: training only, then (if asked) again with validation in each epoch. */
async function timeEpochs(o: { plan: WorkerPlan; config: VcmConfig; train: CsrMatrix; words: CsrMatrix; validation: CsrMatrix }) {
  const { plan, config, train, words, validation } = o;
  const seconds: number[] = [];
  const model = await trainModel({
    train,
    validation: emptyCsr(train.rows, train.cols),
    words,
    config,
    onEpoch: (r) => {
      seconds.push(r.seconds);
      console.log(`epoch ${r.epoch}: ${r.seconds.toFixed(2)} s training only (−Lx ${r.reconX.toFixed(2)}, −Ly ${r.reconY.toFixed(1)})`);
    },
  });
  let pass: { seconds: number; ndcg100: number };
  try {
    pass = await timeValidation({ model, train, validation });
  } finally {
    model.dispose();
  }
  console.log(`validation pass: ${pass.seconds.toFixed(2)} s (NDCG@100 over all ${train.rows} users)`);
  let withValidation: number[] | undefined;
  if (plan.withValidation) {
    withValidation = [];
    const list = withValidation;
    const again = await trainModel({
      train,
      validation,
      words,
      config,
      onEpoch: (r) => {
        list.push(r.seconds);
        console.log(`epoch ${r.epoch}: ${r.seconds.toFixed(2)} s with validation (NDCG@100 ${r.valNdcg100.toFixed(4)})`);
      },
    });
    again.dispose();
  }
  return { seconds, pass, validationUsers: train.rows, withValidation };
}

/**
 * A measured number of optimiser steps (after warm-up), each timed, for shapes too big for whole epochs
 * here; the validation pass is timed on the first `validationUsers` users and scaled to all.
 */
async function timeSteps(o: { plan: WorkerPlan; config: VcmConfig; train: CsrMatrix; words: CsrMatrix; validation: CsrMatrix }) {
  const { plan, config, train, words, validation } = o;
  const params = initParams({ numItems: train.cols, numWords: words.cols, config });
  const names = [...params.keys()];
  const model = VcmModel.create({
    config,
    backend: currentBackend(),
    device: currentDevice(),
    numItems: train.cols,
    numWords: words.cols,
    params,
    history: [],
    bestEpoch: 0,
  });
  try {
    const adam = new Adam(
      names.map((n) => params.get(n)!.size),
      { learningRate: config.learningRate, inPlace: names.map(updatableInPlace) },
    );
    const rng = new Rng(config.seed + 1);
    const order = rng.permutation(train.rows);
    const seconds: number[] = [];
    try {
      for (let i = 0; i < plan.warmupSteps + plan.steps; i += 1) {
        const start = (i * config.batchSize) % train.rows;
        const rows = order.subarray(start, start + config.batchSize);
        const beta = annealedBeta({ step: adam.steps, beta: config.beta, annealSteps: config.annealSteps });
        const t0 = performance.now();
        await trainStep({ params, names, adam, part: "vcm", beta, rows, rng, train, words, config });
        if (i >= plan.warmupSteps) seconds.push((performance.now() - t0) / 1000);
      }
    } finally {
      adam.dispose();
    }
    const sorted = [...seconds].sort((x, y) => x - y);
    console.log(`${seconds.length} steps after ${plan.warmupSteps} warm-up steps: median ${(1000 * sorted[Math.floor(sorted.length / 2)]).toFixed(0)} ms/step, best ${(1000 * sorted[0]).toFixed(0)} ms/step`);
    const users = Math.min(plan.validationUsers, train.rows);
    const rows = Array.from({ length: users }, (_, r) => r);
    const measured = await timeValidation({ model, train, validation, rows });
    console.log(`validation: ${measured.seconds.toFixed(2)} s for ${users} of ${train.rows} users`);
    const pass = { seconds: (measured.seconds * train.rows) / users, ndcg100: measured.ndcg100 };
    return { seconds, pass, validationUsers: users, withValidation: undefined };
  } finally {
    model.dispose();
  }
}

/** Runs one row and prints its WorkerResult as the last stdout line. */
export async function runWorker(kind: RowKind, plan: WorkerPlan): Promise<void> {
  const refused = await startBackend(kind, plan);
  if (refused) {
    console.log(JSON.stringify({ ok: false, kind, reason: refused } satisfies WorkerResult));
    return;
  }
  const config = resolveVcmConfig({ variant: "vcm", epochs: plan.epochs, seed: plan.seed, ...(plan.hidden === undefined ? {} : { hiddenX: plan.hidden, hiddenY: plan.hidden }), ...plan.config });
  // The service's check, before any data is built: a shape past the backend's memory is refused with its sentence.
  const shape = { users: plan.users, items: plan.items, words: plan.vocab, trainClicks: plan.users * plan.clicksPerUser, wordEntries: plan.users * plan.wordsPerUser };
  const memoryRefused = memoryRefusal({ shape, config, limit: trainingMemoryLimit() });
  if (memoryRefused !== undefined) {
    console.log(JSON.stringify({ ok: false, kind, reason: memoryRefused } satisfies WorkerResult));
    return;
  }
  const t0 = performance.now();
  const data = buildData(plan);
  const dataSeconds = (performance.now() - t0) / 1000;
  const parameters = paramSpecs({ numItems: plan.items, numWords: plan.vocab, config }).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  const timed = plan.mode === "epochs" ? await timeEpochs({ plan, config, ...data }) : await timeSteps({ plan, config, ...data });
  const result: WorkerResult = {
    ok: true,
    kind,
    backend: currentBackend(),
    device: currentDevice(),
    parameters,
    dataSeconds,
    seconds: timed.seconds,
    stepsPerEpoch: Math.ceil(plan.users / config.batchSize),
    validationSeconds: timed.pass.seconds,
    validationUsers: timed.validationUsers,
    validationNdcg100: timed.pass.ndcg100,
    withValidationSeconds: timed.withValidation,
    peakRssKb: process.resourceUsage().maxRSS,
  };
  console.log(JSON.stringify(result));
}

/**
 * Starts the backend with no forced choice, as the server does: auto picks webgpu only on a hardware
 * adapter, and says why not otherwise (with what a GPU of this machine lacks, where it has one).
 */
export async function runProbe(): Promise<void> {
  const backend = await initBackend();
  const device = currentDevice();
  const reason = backend === "webgpu" ? undefined : (webgpuRefusal() ?? "auto chose another backend");
  console.log(JSON.stringify({ backend, device, reason } satisfies ProbeResult));
}
