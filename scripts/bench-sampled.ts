/**
 * `npm run bench:sampled` (issue 27, item 3): does VCM trained with a sampled softmax rank as well as with
 * the paper's full softmax?
 *
 *   npm run bench:sampled -- [--scale 1] [--epochs 10] [--seeds 1,2] [--sampled-softmax 1000,200]
 *                            [--sampled-proposal uniform,popularity] [--json]
 *
 * A synthetic dataset with planted topics at the Yelp shape (`--scale` shrinks users and items alike;
 * data/generate.ts, as bench:warm-start uses) is generated and ingested into a temporary SQLite file. For
 * each seed, VCM trains `--epochs` epochs with the full softmax and with each sampled softmax of the lists
 * (negatives × proposal), keeping the epoch with the best validation NDCG@100 as training does; each model
 * is then scored on the test clicks (excluding the training clicks, as `vcm evaluate` does). Printed: test
 * NDCG@10 and NDCG@100 of each run, each sampled run's ratio to the full softmax of its seed (target
 * within 5 %), seconds per epoch, the machine and its load average.
 */
import "reflect-metadata";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { syntheticSource, YELP_SHAPE } from "../src/data/generate.ts";
import { openDatabase } from "../src/db/data-source.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { resolveVcmConfig } from "../src/engine/config.ts";
import { evaluateRanking } from "../src/engine/evaluate.ts";
import { trainModel } from "../src/engine/models/index.ts";
import { currentBackend, currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import { ingestDataset } from "../src/services/ingest.ts";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    epochs: { type: "string", default: "10" },
    seeds: { type: "string", default: "1,2" },
    "sampled-softmax": { type: "string", default: "1000" },
    "sampled-proposal": { type: "string", default: "uniform" },
    json: { type: "boolean", default: false },
  },
});
const scale = Number(values.scale);
const epochs = Number(values.epochs);
const seeds = values.seeds.split(",").map(Number);
const negatives = values["sampled-softmax"].split(",").map(Number);
const proposals = values["sampled-proposal"].split(",");
const shape = { users: Math.round(YELP_SHAPE.users * scale), items: Math.round(YELP_SHAPE.items * scale), vocab: YELP_SHAPE.vocab, seed: 1 };
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** One trained model's test figures. */
interface Run {
  readonly seed: number;
  readonly softmax: string;
  readonly bestEpoch: number;
  readonly ndcg10: number;
  readonly ndcg100: number;
  readonly secondsPerEpoch: number;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-sampled-"));
const loadBefore = os.loadavg()[0];
const dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));
try {
  await initBackend();
  log(`generating ${shape.users} users × ${shape.items} items × ${shape.vocab} words (Yelp shape × ${scale}, planted topics)…`);
  await ingestDataset(dataSource, { name: "bench", source: syntheticSource(shape), preprocess: { vocabSize: shape.vocab } });
  const m = await loadDatasetMatrices(dataSource, "bench");
  log(`loaded ${m.train.rows} users × ${m.train.cols} items, ${m.train.indptr[m.train.rows]} training clicks, ${m.words.cols} words`);
  const variants = [{ softmax: "full", fields: {} }, ...negatives.flatMap((n) => proposals.map((p) => ({ softmax: `sampled ${n} ${p}`, fields: { sampledSoftmax: n, sampledProposal: p } })))];
  const runs: Run[] = [];
  for (const seed of seeds) {
    for (const v of variants) {
      const config = resolveVcmConfig({ epochs, seed, ...v.fields });
      const seconds: number[] = [];
      const model = await trainModel({
        train: m.train,
        validation: m.validation,
        words: m.words,
        config,
        onEpoch: (r) => {
          seconds.push(r.seconds);
          log(`  seed ${seed}, ${v.softmax}: epoch ${r.epoch} validation NDCG@100 ${r.valNdcg100.toFixed(4)} ${r.seconds.toFixed(1)} s`);
        },
      });
      try {
        const test = await evaluateRanking({ model, mode: "vcm", input: m.train, heldOut: m.test, exclude: m.train, ks: [10, 100] });
        const run = { seed, softmax: v.softmax, bestEpoch: model.bestEpoch, ndcg10: test.means["ndcg@10"], ndcg100: test.means["ndcg@100"], secondsPerEpoch: seconds.reduce((a, b) => a + b, 0) / seconds.length };
        runs.push(run);
        log(`  seed ${seed}, ${v.softmax}: test NDCG@10 ${run.ndcg10.toFixed(4)}, NDCG@100 ${run.ndcg100.toFixed(4)} (best epoch ${run.bestEpoch})`);
      } finally {
        model.dispose();
      }
    }
  }
  const full = new Map(runs.filter((r) => r.softmax === "full").map((r) => [r.seed, r]));
  const rows = runs.map((r) => ({ ...r, ratio10: r.ndcg10 / full.get(r.seed)!.ndcg10, ratio100: r.ndcg100 / full.get(r.seed)!.ndcg100 }));
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? "CPU", node: process.version, backend: currentBackend(), device: currentDevice(), loadAverage: [loadBefore, os.loadavg()[0]] };
  if (values.json) console.log(JSON.stringify({ shape: { ...shape, scale }, epochs, rows, machine, date: new Date().toISOString() }));
  else {
    console.log(`Yelp shape × ${scale}, planted topics: ${m.train.rows} users × ${m.train.cols} items × ${m.words.cols} words; ${epochs} epochs, best by validation NDCG@100`);
    console.log("seed  softmax                     best epoch  test NDCG@10  test NDCG@100  ÷ full @10  ÷ full @100  s/epoch (with validation)");
    for (const r of rows) {
      console.log(
        `${String(r.seed).padEnd(5)} ${r.softmax.padEnd(27)} ${String(r.bestEpoch).padStart(10)}  ${r.ndcg10.toFixed(4).padStart(12)}  ${r.ndcg100.toFixed(4).padStart(13)}  ${r.ratio10.toFixed(3).padStart(10)}  ${r.ratio100.toFixed(3).padStart(11)}  ${r.secondsPerEpoch.toFixed(1).padStart(7)}`,
      );
    }
    console.log(`# ${machine.cpus} × ${machine.cpu}, Node ${process.version}, backend ${machine.backend} (${machine.device}), load average ${loadBefore.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`);
  }
} finally {
  await dataSource.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
