/**
 * Times single VCM training steps at a given shape (default: Yelp, 6,784 users × 10,003 items ×
 * 10,000 words, ~16 clicks and ~300 distinct words per user, default config) on random data, and prints
 * where one step spends its time by kernel (tf.profile).
 *
 *   npx tsx scripts/profile-step.ts [--backend wasm|cpu|tensorflow] [--steps 10] [--users N --items N --vocab N]
 *     [--clicks-per-user 16 --words-per-user 300]
 *     [--native-addon path/to/wasm_sgemm.node]   (native/build/wasm_sgemm.node is used by itself when built)
 *     [--shapes]   (also each matMul's input shapes and time)
 *     [--sampled-softmax N]   (train with a sampled softmax of N negatives per step)  [--hidden-x N]
 */
import * as tf from "@tensorflow/tfjs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { CsrMatrix } from "../src/data/csr.ts";
import { Adam } from "../src/engine/runtime/adam.ts";
import { initBackend } from "../src/engine/runtime/index.ts";
import { enableNativeMatMul, nativeMatMulEnabled } from "../src/engine/runtime/native-kernels.ts";
import { resolveVcmConfig } from "../src/engine/config.ts";
import { Rng } from "../src/engine/random.ts";
import { initParams, trainStep, updatableInPlace, type StepTimings } from "../src/engine/models/vcm/train.ts";
import type { BackendChoice } from "../src/config.ts";

/** Random sparse rows with a Poisson-like number of distinct columns (mean `perRow`) and values 1..maxValue. */
export function randomCsr(options: { rows: number; cols: number; perRow: number; maxValue: number; rng: Rng }): CsrMatrix {
  const { rows, cols, perRow, maxValue, rng } = options;
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < rows; r += 1) {
    // Normal approximation of Poisson(perRow), at least one entry.
    const n = Math.max(1, Math.min(cols, Math.round(perRow + Math.sqrt(perRow) * rng.normal())));
    const chosen = new Set<number>();
    while (chosen.size < n) chosen.add(Math.floor(rng.next() * cols));
    for (const c of [...chosen].sort((a, b) => a - b)) {
      indices.push(c);
      values.push(1 + Math.floor(rng.next() * maxValue));
    }
    indptr[r + 1] = indices.length;
  }
  return { rows, cols, indptr, indices: Int32Array.from(indices), values: Float32Array.from(values) };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      backend: { type: "string" },
      steps: { type: "string", default: "10" },
      users: { type: "string", default: "6784" },
      items: { type: "string", default: "10003" },
      vocab: { type: "string", default: "10000" },
      "clicks-per-user": { type: "string", default: "16" },
      "words-per-user": { type: "string", default: "300" },
      // An addon built elsewhere than native/build/ (where initBackend finds it by itself).
      "native-addon": { type: "string" },
      // Also list each matMul's input shapes and time.
      shapes: { type: "boolean", default: false },
      // Train with a sampled softmax of this many negatives per step (uniform proposal).
      "sampled-softmax": { type: "string" },
      "hidden-x": { type: "string" },
    },
  });
  const backend = await initBackend(a.backend as BackendChoice | undefined);
  if (a["native-addon"] && !enableNativeMatMul(a["native-addon"])) throw new Error(`cannot load ${a["native-addon"]}`);
  const rng = new Rng(1);
  const users = Number(a.users);
  const train = randomCsr({ rows: users, cols: Number(a.items), perRow: Number(a["clicks-per-user"]), maxValue: 1, rng });
  const words = randomCsr({ rows: users, cols: Number(a.vocab), perRow: Number(a["words-per-user"]), maxValue: 5, rng });
  const config = resolveVcmConfig({
    ...(a["sampled-softmax"] === undefined ? {} : { sampledSoftmax: Number(a["sampled-softmax"]) }),
    ...(a["hidden-x"] === undefined ? {} : { hiddenX: Number(a["hidden-x"]) }),
  });
  const params = initParams({ numItems: train.cols, numWords: words.cols, config });
  const names = [...params.keys()];
  const adam = new Adam(names.map((n) => params.get(n)!.size), { learningRate: config.learningRate, inPlace: names.map(updatableInPlace) });
  const order = rng.permutation(users);
  let batchStart = 0;
  const timings: StepTimings = { batchMs: 0, gradientsMs: 0, adamMs: 0 };
  const step = async (): Promise<void> => {
    if (batchStart + config.batchSize > users) batchStart = 0;
    const rows = order.subarray(batchStart, batchStart + config.batchSize);
    batchStart += config.batchSize;
    await trainStep({ params, names, adam, part: "vcm", beta: 0.2, rows, rng, train, words, config, timings });
  };
  const parameters = names.reduce((s, n) => s + params.get(n)!.size, 0);
  console.log(`backend=${backend}${nativeMatMulEnabled() ? " (matMul through native OpenBLAS)" : ""} users=${users} items=${train.cols} vocab=${words.cols} parameters=${parameters} batch=${config.batchSize}`);
  for (let i = 0; i < 2; i += 1) await step();
  Object.assign(timings, { batchMs: 0, gradientsMs: 0, adamMs: 0 });
  const times: number[] = [];
  for (let i = 0; i < Number(a.steps); i += 1) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const median = times[Math.floor(times.length / 2)];
  const stepsPerEpoch = Math.ceil(users / config.batchSize);
  console.log(`ms/step median=${median.toFixed(1)} min=${times[0].toFixed(1)} max=${times.at(-1)!.toFixed(1)} (${times.length} steps)`);
  console.log(`estimated s/epoch (training only, ${stepsPerEpoch} steps) = ${((median * stepsPerEpoch) / 1000).toFixed(1)}`);
  const n = times.length;
  console.log(
    `mean per step: batch building ${(timings.batchMs / n).toFixed(1)} ms, forward+backward ${(timings.gradientsMs / n).toFixed(1)} ms, Adam ${(timings.adamMs / n).toFixed(1)} ms`,
  );

  // Adam runs outside the kernels tfjs profiles, so it is timed on its own.
  const t0 = performance.now();
  const profile = await tf.profile(step);
  const total = performance.now() - t0;
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    // tf.profile also lists op-level wrappers (customGrad's "forward", "…__op") that contain kernels.
    if (!tf.getKernel(k.name, tf.getBackend())) continue;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += Number(k.kernelTimeMs) || 0;
    entry.calls += 1;
    byKernel.set(k.name, entry);
  }
  const kernelMs = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(`\nprofiled step: ${total.toFixed(1)} ms wall (profiling adds overhead), kernels ${kernelMs.toFixed(1)} ms, rest (JS batching, Adam, tfjs bookkeeping) ${(total - kernelMs).toFixed(1)} ms`);
  console.log("kernel                    ms  calls");
  for (const [name, e] of [...byKernel].sort((x, y) => y[1].ms - x[1].ms)) {
    console.log(`${name.padEnd(22)} ${e.ms.toFixed(1).padStart(7)}  ${String(e.calls).padStart(5)}`);
  }
  if (a.shapes) {
    console.log("\nmatMul calls in order (input shapes, transposes, ms):");
    for (const k of profile.kernels) {
      if (!/MatMul/.test(k.name) || !tf.getKernel(k.name, tf.getBackend())) continue;
      const attrs = (k as unknown as { extraInfo?: string }).extraInfo ?? "";
      console.log(`  ${k.name.padEnd(14)} ${JSON.stringify(k.inputShapes)} ${attrs} ${(Number(k.kernelTimeMs) || 0).toFixed(2)} ms`);
    }
  }
}

// Runs only as a script, so other scripts can import randomCsr.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
