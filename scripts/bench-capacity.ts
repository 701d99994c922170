/**
 * `npm run bench:capacity`: the capacity question of issue 28 (docs/capacity.md). For each β schedule, a
 * `vcm experiment --models vcm,vcm-se` over several seeds on one dataset, then per activity cohort (5 groups
 * of equal training clicks, as the experiment report cuts them) ĉu of VCM and VCM-Se as mean ± sample
 * standard deviation over seeds, the paired difference seed by seed, NDCG@10, the β of the kept epoch, and
 * what the derivation says to look at: ĉu split into its mean and variance parts, and the mean posterior
 * precision of the click and word encoders. Prints Markdown tables and writes capacity.json to --out.
 *
 *   npm run bench:capacity -- [--users 1000 --items 800 --vocab 2000] [--seeds 3] [--epochs 50]
 *       [--schedules paper,reach,constant] [--beta 0.4] [--reviews FILE.json(.gz) (an Amazon file instead)]
 *       [--min-user-clicks 5 --min-item-users 5] [--out DIR]
 *
 * Schedules (β = min(βfinal, step / annealSteps), src/engine/models/vcm/losses.ts): "paper" keeps the
 * default annealSteps (40,000: on a small dataset β stays near 0 for the whole run), "reach" sets annealSteps
 * to half the run's steps (βfinal after βfinal × annealSteps steps: a fifth of the run at β = 0.4),
 * "constant" sets annealSteps to 1 (βfinal from the second step). The kept epoch is still the one with the best validation NDCG@100, whatever its β.
 */
import "reflect-metadata";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { amazonSource } from "../src/data/parsers/amazon.ts";
import { syntheticSource } from "../src/data/generate.ts";
import { openDatabase } from "../src/db/data-source.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { capacityParts, crossKl, meanPrecision } from "../src/engine/capacity.ts";
import { DEFAULT_VCM_CONFIG } from "../src/engine/config.ts";
import { pairedTTest } from "../src/engine/stats.ts";
import { currentBackend, currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import { cohortBoundaries, cohortIndex, cohortLabel, DEFAULT_COHORT_GROUPS } from "../src/services/cohorts.ts";
import type { RunResult } from "../src/services/experiment-report.ts";
import { resolveExperimentArgs, runExperiment } from "../src/services/experiment.ts";
import { ingestDataset } from "../src/services/ingest.ts";
import { loadModel } from "../src/services/saved-models.ts";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "1000" },
    items: { type: "string", default: "800" },
    vocab: { type: "string", default: "2000" },
    seeds: { type: "string", default: "3" },
    epochs: { type: "string", default: "50" },
    schedules: { type: "string", default: "paper,reach,constant" },
    beta: { type: "string", default: String(DEFAULT_VCM_CONFIG.beta) },
    reviews: { type: "string" },
    "min-user-clicks": { type: "string" },
    "min-item-users": { type: "string" },
    out: { type: "string" },
  },
});
const seeds = Number(values.seeds);
const epochs = Number(values.epochs);
const beta = Number(values.beta);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-capacity-"));
const outDir = values.out ?? dir;
fs.mkdirSync(outDir, { recursive: true });
const dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));

/** Per run and cohort: mean ĉu, its two parts, mean precisions of qx and qy, ĉu of qy, NDCG@10. */
interface CohortRow {
  capacity: number;
  meanPart: number;
  variancePart: number;
  precisionX: number;
  precisionY: number;
  wordCapacity: number;
  /** KL(qx ‖ qy): meaningful for VCM only (VCM-Se's two spaces are not aligned). */
  crossKl: number;
  ndcg10: number;
}

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: ReadonlyArray<number>) => (xs.length < 2 ? Number.NaN : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pm = (xs: ReadonlyArray<number>, digits = 1) => `${mean(xs).toFixed(digits)} ± ${sd(xs).toFixed(digits)}`;
/** Two-sided paired Student's t-test over the seeds (seed s of one model against seed s of the other). */
const tested = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  const t = pairedTTest({ a, b });
  return `${t.statistic.toFixed(2)}, ${t.pValue.toFixed(3)}`;
};

try {
  await initBackend();
  const preprocess = {
    ...(values["min-user-clicks"] === undefined ? {} : { minUserClicks: Number(values["min-user-clicks"]) }),
    ...(values["min-item-users"] === undefined ? {} : { minItemUsers: Number(values["min-item-users"]) }),
  };
  const shape = { users: Number(values.users), items: Number(values.items), vocab: Number(values.vocab) };
  const source = values.reviews === undefined ? syntheticSource({ ...shape, seed: 1 }) : amazonSource({ reviews: values.reviews });
  await ingestDataset(dataSource, { name: "capacity", source, preprocess });
  const matrices = await loadDatasetMatrices(dataSource, "capacity");
  const stepsPerEpoch = Math.ceil(matrices.train.rows / DEFAULT_VCM_CONFIG.batchSize);
  const totalSteps = stepsPerEpoch * epochs;
  const schedules: Record<string, number> = { paper: DEFAULT_VCM_CONFIG.annealSteps, reach: Math.max(1, Math.round(totalSteps / 2)), constant: 1 };
  const results: Record<string, unknown> = {};
  const described =
    values.reviews === undefined ? `generated (planted topics) ${shape.users} users × ${shape.items} items × ${shape.vocab} words, seed 1` : `${path.basename(values.reviews)}`;
  console.log(
    `# ${described}: ${matrices.train.rows} users × ${matrices.train.cols} items × ${matrices.words.cols} words after the filters; ` +
      `${stepsPerEpoch} steps an epoch × ${epochs} epochs = ${totalSteps} steps; seeds 1–${seeds}; β = ${beta}; backend ${currentBackend()} (${currentDevice()})`,
  );
  for (const schedule of values.schedules!.split(",")) {
    const annealSteps = schedules[schedule];
    if (annealSteps === undefined) throw new Error(`unknown schedule ${schedule}: paper, reach or constant`);
    const started = performance.now();
    const args = resolveExperimentArgs({ dataset: "capacity", models: ["vcm", "vcm-se"], seeds, epochs, config: { beta, annealSteps } });
    const expDir = path.join(dir, `experiment-${schedule}`);
    await runExperiment({ dataSource, modelsDir: path.join(dir, "models"), args, outDir: expDir });
    const state = JSON.parse(fs.readFileSync(path.join(expDir, "experiment.json"), "utf8"), (_k, v: unknown) => (v === null ? Number.NaN : v)) as { runs: RunResult[] };
    const runs = state.runs.filter((r) => (r as RunResult & { mode?: string }).mode === "vcm" && r.capacity !== undefined);
    const activity = runs[0].activity!;
    const boundaries = cohortBoundaries({ activity, grouping: "EQUAL_INTERACTIONS", groups: DEFAULT_COHORT_GROUPS });
    const cohorts = boundaries.length + 1;
    const labels = Array.from({ length: cohorts }, (_, j) => cohortLabel({ minClicks: j === 0 ? 0 : boundaries[j - 1], maxClicks: j === boundaries.length ? null : boundaries[j] - 1 }));
    const userCohort = activity.map((a) => cohortIndex(a, boundaries));
    const perRun: Record<string, { seed: number; keptBeta: number; bestEpoch: number; cohorts: CohortRow[] }[]> = { vcm: [], "vcm-se": [] };
    for (const run of runs) {
      const loaded = await loadModel({ dataSource, modelId: run.modelId, modelsDir: path.join(dir, "models") });
      try {
        const k = loaded.model.config.latentDim;
        // The experiment evaluated every user with a test click, in row order.
        const rows = Array.from({ length: matrices.test.rows }, (_, r) => r).filter((r) => matrices.test.indptr[r + 1] > matrices.test.indptr[r]);
        if (rows.length !== run.capacity!.length) throw new Error(`expected ${run.capacity!.length} evaluated users, found ${rows.length} with test clicks`);
        const qx = await loaded.model.latent({ matrix: matrices.train, rows }, "x");
        const qy = await loaded.model.latent({ matrix: matrices.words, rows }, "y");
        const px = capacityParts({ ...qx, latentDim: k });
        const py = capacityParts({ ...qy, latentDim: k });
        const precX = meanPrecision({ logVar: qx.logVar, latentDim: k });
        const precY = meanPrecision({ logVar: qy.logVar, latentDim: k });
        const cross = crossKl({ x: qx, y: qy, latentDim: k });
        rows.forEach((_, u) => {
          const recomputed = px.meanPart[u] + px.variancePart[u];
          if (Math.abs(recomputed - run.capacity![u]) > 1e-3 * Math.max(1, recomputed)) throw new Error(`user ${u}: ĉu ${run.capacity![u]} from the experiment, ${recomputed} from the encoder`);
        });
        const cohortRows = Array.from({ length: cohorts }, (_, j) => {
          const members = rows.map((_, u) => u).filter((u) => userCohort[u] === j);
          const avg = (f: (u: number) => number) => mean(members.map(f).filter((x) => Number.isFinite(x)));
          return {
            capacity: avg((u) => run.capacity![u]),
            meanPart: avg((u) => px.meanPart[u]),
            variancePart: avg((u) => px.variancePart[u]),
            precisionX: avg((u) => precX[u]),
            precisionY: avg((u) => precY[u]),
            wordCapacity: avg((u) => py.meanPart[u] + py.variancePart[u]),
            crossKl: avg((u) => cross[u]),
            ndcg10: avg((u) => run.perUser["ndcg@10"][u]),
          };
        });
        const best = loaded.row.history.find((h) => h.epoch === loaded.row.bestEpoch);
        perRun[run.model].push({ seed: run.seed, keptBeta: best?.beta ?? Number.NaN, bestEpoch: loaded.row.bestEpoch, cohorts: cohortRows });
      } finally {
        loaded.model.dispose();
      }
    }
    const bySeed = (model: string) => [...perRun[model]].sort((a, b) => a.seed - b.seed);
    const [vcm, se] = [bySeed("vcm"), bySeed("vcm-se")];
    const col = (rs: typeof vcm, j: number, key: keyof CohortRow) => rs.map((r) => r.cohorts[j][key]);
    console.log(
      `\n## schedule ${schedule}: β = min(${beta}, step / ${annealSteps}); β of the kept epoch VCM ${pm(vcm.map((r) => r.keptBeta), 3)} (epoch ${pm(vcm.map((r) => r.bestEpoch), 0)}), ` +
        `VCM-Se ${pm(se.map((r) => r.keptBeta), 3)} (epoch ${pm(se.map((r) => r.bestEpoch), 0)}); ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    console.log("| training clicks | users | ĉu VCM | ĉu VCM-Se | VCM − VCM-Se (paired) | seeds VCM > Se | paired t-test over seeds: t, p | NDCG@10 VCM | NDCG@10 VCM-Se |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (let j = 0; j < cohorts; j += 1) {
      const diff = vcm.map((r, i) => r.cohorts[j].capacity - se[i].cohorts[j].capacity);
      console.log(
        `| ${labels[j]} | ${userCohort.filter((c) => c === j).length} | ${pm(col(vcm, j, "capacity"))} | ${pm(col(se, j, "capacity"))} | ${pm(diff)} | ${diff.filter((d) => d > 0).length}/${diff.length} | ${tested(col(vcm, j, "capacity"), col(se, j, "capacity"))} | ` +
          `${pm(col(vcm, j, "ndcg10"), 4)} | ${pm(col(se, j, "ndcg10"), 4)} |`,
      );
    }
    console.log("\n| training clicks | ½Σμ² VCM | ½Σμ² Se | variance part VCM | variance part Se | mean 1/σx² VCM | mean 1/σx² Se | mean 1/σy² VCM | mean 1/σy² Se | KL(qy‖N) VCM | KL(qy‖N) Se | KL(qx‖qy) VCM |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (let j = 0; j < cohorts; j += 1) {
      const cells = (["meanPart", "variancePart", "precisionX", "precisionY", "wordCapacity"] as const).flatMap((key) => {
        const digits = key.startsWith("precision") ? 2 : 1;
        return [pm(col(vcm, j, key), digits), pm(col(se, j, key), digits)];
      });
      console.log(`| ${labels[j]} | ${cells.join(" | ")} | ${pm(col(vcm, j, "crossKl"))} |`);
    }
    results[schedule] = { annealSteps, beta, labels, users: labels.map((_, j) => userCohort.filter((c) => c === j).length), vcm, vcmSe: se };
    fs.writeFileSync(path.join(outDir, "capacity.json"), JSON.stringify({ described, epochs, seeds, stepsPerEpoch, results }, null, 1));
  }
  console.log(`\n# ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, Node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}, ${new Date().toISOString()}`);
} finally {
  await dataSource.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
