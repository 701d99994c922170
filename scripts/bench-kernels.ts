/**
 * `npm run bench:kernels`: the explanations' two engine kernels at the Yelp shape (600 hidden units ×
 * 10,003 items, random weights), against the float32 products they replace, on one thread (as each
 * worker of `vcm serve --workers 2` runs them):
 *
 * - the exact deletions' log-softmax reads on AMX bfloat16 tiles (runtime bf16-logits.ts; skipped with a
 *   sentence on a CPU without them), per decoded row, for calls of 1 to 7 users' rows (94 rows a user,
 *   two whole rows each, as an (a″) request's), against the float32 logits and log-sum-exp; and the
 *   worst error of a read against float64, as a share of the change the row makes;
 * - the first-order word effects' softmax mean W·π in one read of W (runtime softmaxMean), for 1 to 12
 *   rows, against the logits, softmax and product, with the worst relative difference.
 *
 *   npm run bench:kernels -- [--reps 10] [--json]
 */
import * as tf from "@tensorflow/tfjs";
import os from "node:os";
import { Command } from "commander";
import { bf16DeletionsAvailable, deltaLogSoftmax, initBackend, linear, logSumExpRows, matMulNT, packLayer, softmaxMean } from "../src/engine/runtime/index.ts";
import { Rng } from "../src/engine/random.ts";

const HIDDEN = 600;
const ITEMS = 10_003;
/** Rows of one user's deletion call in (a″): the two whole rows and ≈ 92 deletions (BENCHMARKS.md). */
const ROWS_PER_USER = 94;

// One thread, as each worker of `vcm serve --workers 2` on two cores: set before the addon loads.
process.env.OMP_NUM_THREADS ??= "1";
process.env.OPENBLAS_NUM_THREADS ??= "1";

const program = new Command()
  .option("--reps <n>", "timed repetitions of each case, after 3 untimed", "10")
  .option("--json", "one JSON line instead of text")
  .parse();
const opts = program.opts<{ reps: string; json?: boolean }>();
const reps = Math.max(1, Number(opts.reps));

function msPer(f: () => void): number {
  for (let i = 0; i < 3; i += 1) f();
  const start = performance.now();
  for (let i = 0; i < reps; i += 1) f();
  return (performance.now() - start) / reps;
}

await initBackend("wasm");
const rng = new Rng(5);
const normals = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * (rng.next() + rng.next() + rng.next() - 1.5));
const wValues = normals(HIDDEN * ITEMS, 0.1);
const bValues = normals(ITEMS, 1);
const weight = tf.tensor2d(wValues, [HIDDEN, ITEMS]);
const bias = tf.tensor1d(bValues);
const results: Record<string, unknown> = { cpu: os.cpus()[0]?.model, node: process.version, loadAverage: os.loadavg()[0], hidden: HIDDEN, items: ITEMS };

const deletions: Array<Record<string, number>> = [];
const layer = packLayer(weight);
if (layer === undefined || !bf16DeletionsAvailable()) {
  results.deletions = "skipped: no AMX bfloat16 tiles here (or the native kernels or VCM_BF16_DELETIONS are off)";
} else {
  for (const users of [1, 2, 4, 7]) {
    const m = users * ROWS_PER_USER;
    const h = new Float32Array(m * HIDDEN);
    const base = new Int32Array(m);
    for (let r = 0; r < m; r += 1) {
      const whole = r - (r % ROWS_PER_USER) + (r % ROWS_PER_USER < 2 ? r % ROWS_PER_USER : r % 2);
      base[r] = whole;
      if (whole === r) h.set(normals(HIDDEN, 0.6).map(Math.tanh), r * HIDDEN);
      else {
        // A deletion moves the decoder's hidden layer a little.
        const nudge = normals(HIDDEN, 0.02);
        for (let t = 0; t < HIDDEN; t += 1) h[r * HIDDEN + t] = h[whole * HIDDEN + t] + nudge[t];
      }
    }
    const readRows = Int32Array.from({ length: m * 20 }, (_, q) => Math.floor(q / 20));
    const readItems = Int32Array.from({ length: m * 20 }, (_, q) => ((q % 20) * 499 + 7) % ITEMS);
    const hidden = tf.tensor2d(h, [m, HIDDEN]);
    const bf16 = msPer(() => deltaLogSoftmax({ hidden, layer, bias, base, readRows, readItems }));
    const float32 = msPer(() =>
      tf.tidy(() => {
        logSumExpRows(linear(hidden, weight, bias)).dataSync();
      }),
    );
    // The worst read error against float64 as a share of the row's change from its whole row (first user only).
    const { picked, lse } = deltaLogSoftmax({ hidden, layer, bias, base, readRows, readItems });
    let worst = 0;
    const exact = (r: number): { logits: Float64Array; lse: number } => {
      const logits = new Float64Array(ITEMS);
      for (let j = 0; j < ITEMS; j += 1) logits[j] = bValues[j];
      for (let t = 0; t < HIDDEN; t += 1) {
        const v = h[r * HIDDEN + t];
        for (let j = 0; j < ITEMS; j += 1) logits[j] += v * wValues[t * ITEMS + j];
      }
      const top = logits.reduce((a, b) => Math.max(a, b), -Infinity);
      return { logits, lse: top + Math.log(logits.reduce((s, l) => s + Math.exp(l - top), 0)) };
    };
    if (users === 1) {
      const wholes = new Map([0, 1].map((r) => [r, exact(r)]));
      for (let r = 2; r < 12; r += 1) {
        const e = exact(r);
        const w = wholes.get(base[r])!;
        for (let q = r * 20; q < r * 20 + 20; q += 1) {
          const item = readItems[q];
          const change = e.logits[item] - e.lse - (w.logits[item] - w.lse);
          const error = Math.abs(picked[q] - lse[r] - (e.logits[item] - e.lse));
          worst = Math.max(worst, error / Math.max(Math.abs(change), 1e-3));
        }
      }
    }
    deletions.push({ users, rows: m, bf16Ms: +bf16.toFixed(2), float32Ms: +float32.toFixed(2), bf16UsPerRow: +((1000 * bf16) / m).toFixed(1), float32UsPerRow: +((1000 * float32) / m).toFixed(1), ...(users === 1 ? { worstErrorShareOfChange: +worst.toPrecision(3) } : {}) });
    hidden.dispose();
  }
  results.deletions = deletions;
}

const means: Array<Record<string, number>> = [];
for (const m of [1, 3, 6, 12]) {
  const h = tf.tensor2d(normals(m * HIDDEN, 0.6).map(Math.tanh), [m, HIDDEN]);
  const fused = msPer(() => tf.tidy(() => void softmaxMean(h, weight, bias).dataSync()));
  const product = msPer(() => tf.tidy(() => void matMulNT(tf.softmax(linear(h, weight, bias)), weight).dataSync()));
  const a = softmaxMean(h, weight, bias).dataSync();
  const b = tf.tidy(() => matMulNT(tf.softmax(linear(h, weight, bias)), weight).dataSync());
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]) / (1e-3 + Math.abs(b[i])))));
  means.push({ rows: m, oneReadMs: +fused.toFixed(2), productMs: +product.toFixed(2), worstRelativeDifference: +worst.toPrecision(3) });
  h.dispose();
}
results.softmaxMean = means;

if (opts.json) console.log(JSON.stringify(results));
else {
  console.log(`${results.cpu}, Node ${results.node}, load average ${Number(results.loadAverage).toFixed(2)}; layer ${HIDDEN} × ${ITEMS}, one thread`);
  if (typeof results.deletions === "string") console.log(`deletions: ${results.deletions}`);
  else {
    for (const d of deletions) {
      console.log(
        `deletions, ${d.users} user(s), ${d.rows} rows: AMX bfloat16 ${d.bf16Ms} ms (${d.bf16UsPerRow} µs a row), float32 ${d.float32Ms} ms (${d.float32UsPerRow} µs a row)` +
          (d.worstErrorShareOfChange === undefined ? "" : `; worst read error ${d.worstErrorShareOfChange} of its row's change`),
      );
    }
  }
  for (const s of means) console.log(`softmax mean, ${s.rows} row(s): one read ${s.oneReadMs} ms, logits + softmax + product ${s.productMs} ms; worst relative difference ${s.worstRelativeDifference}`);
}
tf.dispose([weight, bias]);
