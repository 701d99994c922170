/**
 * `npm run bench:warm-start` (issue 25, item 5): does a warm start reach the quality of a model trained
 * from scratch on grown data in at most a third of its epochs?
 *
 *   npm run bench:warm-start -- [--scale 1] [--append 0.1] [--new-users 0.03] [--new-items 0.03]
 *                               [--max-epochs 100] [--patience 5] [--warm-lr default,0.001] [--seed 1] [--json]
 *
 * A synthetic dataset at the Yelp shape (`--scale` shrinks users and items alike) is generated and
 * ingested into a temporary SQLite file, then split into the data before an append and the append: all
 * clicks of `--new-users` of the users and of `--new-items` of the items, topped up with random training
 * clicks of the other users on the other items until the append holds `--append` × the training clicks
 * before it. As the append does (docs/cli.md), appended users and items take the next rows and columns,
 * appended clicks are training clicks, and the validation split is the one before the append. Then:
 * (1) VCM from scratch on the data before, to its best validation NDCG@100 (patience); (2) from scratch
 * on the grown data, to its best, S* at epoch e*; (3) a warm start from (1) on the grown data, until its
 * validation NDCG@100 reaches S* (at most e* epochs), once per learning rate of `--warm-lr` ("default":
 * what `vcm train --from-model` takes when none is given, engine/config.ts resolveWarmStartConfig). Printed: the epochs of (2) and (3), their ratio
 * (target ≤ 1/3), the validation NDCG@100 of the warm start before its first step, seconds, the machine
 * and its load average. Every run uses the paper's settings (engine/config-fields.ts) with patience.
 */
import "reflect-metadata";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { csrFromRows, type CsrMatrix, type DatasetMatrices } from "../src/data/csr.ts";
import { syntheticSource, YELP_SHAPE } from "../src/data/generate.ts";
import { openDatabase } from "../src/db/data-source.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { resolveVcmConfig, resolveWarmStartConfig, type VcmConfig } from "../src/engine/config.ts";
import { evaluateRanking } from "../src/engine/evaluate.ts";
import { trainModel, VcmModel, type Recommender } from "../src/engine/models/index.ts";
import { warmStartParams } from "../src/engine/models/vcm/train.ts";
import { Rng } from "../src/engine/random.ts";
import { currentBackend, currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import type { EpochRecord, ModelSnapshot } from "../src/engine/types.ts";
import { ingestDataset } from "../src/services/ingest.ts";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    append: { type: "string", default: "0.1" },
    "new-users": { type: "string", default: "0.03" },
    "new-items": { type: "string", default: "0.03" },
    "max-epochs": { type: "string", default: "100" },
    patience: { type: "string", default: "5" },
    "warm-lr": { type: "string" },
    seed: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const scale = Number(values.scale);
const appendShare = Number(values.append);
const seed = Number(values.seed);
const shape = { users: Math.round(YELP_SHAPE.users * scale), items: Math.round(YELP_SHAPE.items * scale), vocab: YELP_SHAPE.vocab, seed };
const config = resolveVcmConfig({ epochs: Number(values["max-epochs"]), patience: Number(values.patience), seed });
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The data before an append and after it, as the engine takes them. */
interface Split {
  readonly before: { train: CsrMatrix; validation: CsrMatrix; words: CsrMatrix };
  readonly grown: { train: CsrMatrix; validation: CsrMatrix; words: CsrMatrix };
  readonly appended: { clicks: number; newUsers: number; newItems: number; ofNewUsers: number; onNewItems: number; ofKnownPairs: number; trainBefore: number };
}

/**
 * Splits a loaded dataset into the data before an append and after it (see the header): rows and
 * columns are renumbered so the appended users and items come last, as the append numbers them.
 */
function splitAppend(m: DatasetMatrices): Split {
  const rng = new Rng(seed + 7);
  const pick = (n: number, share: number): Set<number> => new Set(Array.from(rng.permutation(n).subarray(0, Math.round(n * share))));
  const newUsers = pick(m.train.rows, Number(values["new-users"]));
  const newItems = pick(m.train.cols, Number(values["new-items"]));
  const userOrder = [...Array.from({ length: m.train.rows }, (_, u) => u).filter((u) => !newUsers.has(u)), ...newUsers];
  const itemOrder = [...Array.from({ length: m.train.cols }, (_, i) => i).filter((i) => !newItems.has(i)), ...newItems];
  const column = new Int32Array(m.train.cols);
  itemOrder.forEach((i, c) => (column[i] = c));
  const knownUsers = m.train.rows - newUsers.size;
  const knownItems = m.train.cols - newItems.size;
  const entries = (x: CsrMatrix, u: number): number[] => Array.from(x.indices.subarray(x.indptr[u], x.indptr[u + 1]));
  // Every click of a new user or on a new item is appended (as training clicks); the rest stays put.
  const beforeTrain: number[][] = [];
  const beforeValidation: number[][] = [];
  const appended: number[][] = userOrder.map(() => []);
  let ofNewUsers = 0;
  let onNewItems = 0;
  userOrder.forEach((u, r) => {
    const all = [...entries(m.train, u), ...entries(m.validation, u), ...entries(m.test, u)];
    if (newUsers.has(u)) {
      appended[r].push(...all.map((i) => column[i]));
      ofNewUsers += all.length;
      return;
    }
    const onNew = all.filter((i) => newItems.has(i));
    appended[r].push(...onNew.map((i) => column[i]));
    onNewItems += onNew.length;
    beforeTrain.push(entries(m.train, u).filter((i) => !newItems.has(i)).map((i) => column[i]));
    beforeValidation.push(entries(m.validation, u).filter((i) => !newItems.has(i)).map((i) => column[i]));
  });
  // Topped up with training clicks of known users on known items, one per user a round, keeping two of each user's.
  const trainBefore0 = beforeTrain.reduce((s, row) => s + row.length, 0);
  const enough = (moved: number): boolean => ofNewUsers + onNewItems + moved >= appendShare * (trainBefore0 - moved);
  let ofKnownPairs = 0;
  for (let round = 0; !enough(ofKnownPairs) && round < 100; round += 1) {
    for (const r of rng.permutation(knownUsers)) {
      if (enough(ofKnownPairs)) break;
      const row = beforeTrain[r];
      if (row.length <= 2) continue;
      appended[r].push(...row.splice(Math.floor(rng.next() * row.length), 1));
      ofKnownPairs += 1;
    }
  }
  const csr = (rows: ReadonlyArray<ReadonlyArray<number>>, cols: number): CsrMatrix => csrFromRows({ cols, rows: rows.map((row) => row.map((c) => [c, 1] as [number, number])) });
  const wordRows = (users: ReadonlyArray<number>): CsrMatrix =>
    csrFromRows({
      cols: m.words.cols,
      rows: users.map((u) => Array.from({ length: m.words.indptr[u + 1] - m.words.indptr[u] }, (_, k) => [m.words.indices[m.words.indptr[u] + k], m.words.values[m.words.indptr[u] + k]] as [number, number])),
    });
  const grownTrain = userOrder.map((_, r) => [...new Set([...(r < knownUsers ? beforeTrain[r] : []), ...appended[r]])]);
  const grownValidation = userOrder.map((_, r) => (r < knownUsers ? beforeValidation[r] : []));
  const trainBefore = beforeTrain.reduce((s, row) => s + row.length, 0);
  return {
    before: { train: csr(beforeTrain, knownItems), validation: csr(beforeValidation, knownItems), words: wordRows(userOrder.slice(0, knownUsers)) },
    grown: { train: csr(grownTrain, m.train.cols), validation: csr(grownValidation, m.train.cols), words: wordRows(userOrder) },
    appended: { clicks: ofNewUsers + onNewItems + ofKnownPairs, newUsers: newUsers.size, newItems: newItems.size, ofNewUsers, onNewItems, ofKnownPairs, trainBefore },
  };
}

/** Trains with per-epoch lines on stderr; `stopAt` ends the run once validation NDCG@100 reaches it. */
async function run(o: { label: string; data: Split["grown"]; config: VcmConfig; from?: ModelSnapshot; stopAt?: number }): Promise<{ history: EpochRecord[]; model: Recommender | undefined; seconds: number }> {
  const history: EpochRecord[] = [];
  const abort = new AbortController();
  const started = performance.now();
  try {
    const model = await trainModel({
      ...o.data,
      config: o.config,
      from: o.from,
      signal: abort.signal,
      onEpoch: (r) => {
        history.push(r);
        log(`  ${o.label} epoch ${r.epoch}: validation NDCG@100 ${r.valNdcg100.toFixed(4)}  β ${r.beta.toFixed(4)}  ${r.seconds.toFixed(1)} s`);
        if (o.stopAt !== undefined && r.valNdcg100 >= o.stopAt) abort.abort();
      },
    });
    return { history, model, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    if (!(error instanceof Error && error.name === "AbortError")) throw error;
    return { history, model: undefined, seconds: (performance.now() - started) / 1000 };
  }
}

/** Validation NDCG@100 of the warm start's initial weights on the grown data (before its first step). */
async function initialNdcg(from: ModelSnapshot, data: Split["grown"]): Promise<number> {
  const params = warmStartParams({ numItems: data.train.cols, numWords: data.words.cols, config, from });
  const model = VcmModel.create({ config, backend: currentBackend(), device: currentDevice(), numItems: data.train.cols, numWords: data.words.cols, params, history: [], bestEpoch: 0 });
  try {
    return (await evaluateRanking({ model, mode: "vcm", input: data.train, heldOut: data.validation, exclude: data.train, ks: [100] })).means["ndcg@100"];
  } finally {
    model.dispose();
  }
}

const bestOf = (history: ReadonlyArray<EpochRecord>): EpochRecord => history.reduce((a, b) => (b.valNdcg100 > a.valNdcg100 ? b : a));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-warm-"));
const loadBefore = os.loadavg()[0];
const dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));
try {
  await initBackend();
  log(`generating ${shape.users} users × ${shape.items} items × ${shape.vocab} words (Yelp shape × ${scale})…`);
  await ingestDataset(dataSource, { name: "bench", source: syntheticSource(shape), preprocess: { vocabSize: shape.vocab, seed } });
  const matrices = await loadDatasetMatrices(dataSource, "bench");
  const split = splitAppend(matrices);
  const a = split.appended;
  log(
    `before the append: ${split.before.train.rows} users × ${split.before.train.cols} items, ${a.trainBefore} training clicks; ` +
      `appended ${a.clicks} clicks (${((100 * a.clicks) / a.trainBefore).toFixed(1)} %): ${a.newUsers} new users (${a.ofNewUsers} clicks), ${a.newItems} new items (${a.onNewItems} clicks of known users), ${a.ofKnownPairs} more of known users on known items`,
  );
  const base = await run({ label: "(1) before, from scratch", data: split.before, config });
  const from = await base.model!.snapshot();
  base.model!.dispose();
  const scratch = await run({ label: "(2) grown, from scratch", data: split.grown, config });
  scratch.model?.dispose();
  const target = bestOf(scratch.history);
  const atStart = await initialNdcg(from, split.grown);
  log(`  (3) warm start before its first step: validation NDCG@100 ${atStart.toFixed(4)}`);
  const warms = [];
  for (const rate of (values["warm-lr"] ?? "default").split(",")) {
    // "default": what `vcm train --from-model` does when no learning rate is given.
    const warmConfig = resolveWarmStartConfig({ saved: config, requested: { epochs: target.epoch, ...(rate === "default" ? {} : { learningRate: Number(rate) }) }, model: "model (1)" });
    const learningRate = warmConfig.learningRate;
    const warm = await run({ label: `(3) grown, warm start, lr ${learningRate}`, data: split.grown, config: warmConfig, from, stopAt: target.valNdcg100 });
    warm.model?.dispose();
    const reached = warm.history.find((h) => h.valNdcg100 >= target.valNdcg100);
    warms.push({
      learningRate,
      epochsToScratchBest: reached?.epoch ?? null,
      ratio: reached === undefined ? null : reached.epoch / target.epoch,
      epochsRun: warm.history.length,
      bestValNdcg100: warm.history.length === 0 ? null : bestOf(warm.history).valNdcg100,
      curve: warm.history.map((h) => Number(h.valNdcg100.toFixed(4))),
      seconds: warm.seconds,
    });
  }
  const result = {
    shape: { ...shape, scale },
    appended: a,
    config: { latentDim: config.latentDim, hiddenX: config.hiddenX, hiddenY: config.hiddenY, batchSize: config.batchSize, learningRate: config.learningRate, beta: config.beta, annealSteps: config.annealSteps, patience: config.patience, maxEpochs: config.epochs },
    before: { bestEpoch: bestOf(base.history).epoch, bestValNdcg100: bestOf(base.history).valNdcg100, epochs: base.history.length, seconds: base.seconds },
    scratch: { bestEpoch: target.epoch, bestValNdcg100: target.valNdcg100, epochs: scratch.history.length, curve: scratch.history.map((h) => Number(h.valNdcg100.toFixed(4))), seconds: scratch.seconds },
    warm: { valNdcg100BeforeFirstStep: atStart, runs: warms },
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? "CPU", node: process.version, backend: currentBackend(), device: currentDevice(), loadAverage: [loadBefore, os.loadavg()[0]] },
    date: new Date().toISOString(),
  };
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log(`Yelp shape × ${scale}: ${shape.users} users × ${shape.items} items × ${shape.vocab} words; appended ${a.clicks} clicks (${((100 * a.clicks) / a.trainBefore).toFixed(1)} % of ${a.trainBefore}), ${a.newUsers} new users, ${a.newItems} new items`);
    console.log(`(1) before the append, from scratch: best validation NDCG@100 ${result.before.bestValNdcg100.toFixed(4)} at epoch ${result.before.bestEpoch} of ${result.before.epochs}, ${result.before.seconds.toFixed(0)} s`);
    console.log(`(2) grown, from scratch:             best validation NDCG@100 ${target.valNdcg100.toFixed(4)} at epoch ${target.epoch} of ${scratch.history.length}, ${scratch.seconds.toFixed(0)} s`);
    console.log(`(3) grown, warm start from (1):       validation NDCG@100 ${atStart.toFixed(4)} before its first step`);
    for (const w of warms) {
      const outcome = w.epochsToScratchBest === null ? `did not reach ${target.valNdcg100.toFixed(4)} in ${w.epochsRun} epochs (best ${w.bestValNdcg100?.toFixed(4) ?? "–"})` : `reached ${target.valNdcg100.toFixed(4)} at epoch ${w.epochsToScratchBest}`;
      console.log(`    lr ${w.learningRate}: ${outcome}, ${w.seconds.toFixed(0)} s; epochs warm / scratch = ${w.ratio === null ? "–" : w.ratio.toFixed(2)} (target ≤ 0.33)`);
    }
    console.log(`# ${result.machine.cpus} × ${result.machine.cpu}, Node ${process.version}, backend ${result.machine.backend} (${result.machine.device}), load average ${loadBefore.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`);
  }
} finally {
  await dataSource.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
