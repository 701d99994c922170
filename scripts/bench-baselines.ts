/**
 * Seconds per epoch of the paper baselines beside VCM (`npm run bench:baselines`), on seeded random data
 * of the Yelp shape (6,784 users × 10,003 items × 10,000 words, ~16 clicks and ~300 words per user,
 * as scripts/bench-train.ts makes), on the backend `initBackend()` picks (wasm, with the native
 * kernels when built). Each variant trains `--epochs` epochs with its default configuration; the
 * printed figure is the median epoch after the first, training only (validation scores nobody).
 *
 *   npm run bench:baselines -- [--epochs 3] [--only vcm,cdl,cvae,deepconn] [--seed 1]
 */
import { parseArgs } from "node:util";
import type { CsrMatrix } from "../src/data/csr.ts";
import { currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import { Rng } from "../src/engine/random.ts";
import { trainModel } from "../src/engine/models/index.ts";
import { VARIANTS, type Variant } from "../src/engine/types.ts";
import { randomCsr } from "./bench-train-worker.ts";
import { resolveVcmConfig } from "../src/engine/config.ts";

const { values } = parseArgs({ options: { epochs: { type: "string", default: "3" }, only: { type: "string", default: "vcm,cdl,cvae,deepconn" }, seed: { type: "string", default: "1" } } });
const epochs = Number(values.epochs);
const seed = Number(values.seed);
const variants = values.only.split(",").map((v) => v.trim()) as Variant[];
for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}; choose from ${VARIANTS.join(", ")}`);

const shape = { users: 6_784, items: 10_003, vocab: 10_000, clicksPerUser: 16, wordsPerUser: 300 };
const rng = new Rng(seed);
const train = randomCsr({ rows: shape.users, cols: shape.items, perRow: shape.clicksPerUser, maxValue: 1, rng });
const words = randomCsr({ rows: shape.users, cols: shape.vocab, perRow: shape.wordsPerUser, maxValue: 5, rng });
const validation: CsrMatrix = { rows: shape.users, cols: shape.items, indptr: new Int32Array(shape.users + 1), indices: new Int32Array(0), values: new Float32Array(0) };

const backend = await initBackend();
console.log(`backend ${backend} (${currentDevice()}); Yelp shape ${shape.users} × ${shape.items} × ${shape.vocab}; ${epochs} epochs each`);
for (const variant of variants) {
  const seconds: number[] = [];
  const model = await trainModel({ train, validation, words, config: resolveVcmConfig({ variant, epochs, seed }), onEpoch: (r) => seconds.push(r.seconds) });
  model.dispose();
  const later = seconds.slice(1).sort((a, b) => a - b);
  const median = later.length === 0 ? seconds[0] : later[Math.floor(later.length / 2)];
  console.log(`${variant.padEnd(9)} ${median.toFixed(1)} s / epoch (median after the first; all: ${seconds.map((s) => s.toFixed(1)).join(", ")})`);
}
