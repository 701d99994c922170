/**
 * `vcm experiment`'s statistics and its resumption (issue 11, first part): standard errors and the
 * † mark against a hand calculation on made-up per-user scores; on a real SQLite file, a resumed
 * experiment gives the same report as an uninterrupted one, and other arguments are refused.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { UserError } from "../../src/errors.ts";
import { formatCell, meanAndStandardError, resultTable, type RunResult } from "../../src/services/experiment-report.ts";
import { Experiment } from "../../src/db/entities/experiment.entity.ts";
import { claimExperimentRow } from "../../src/db/experiment-rows.ts";
import { failAbandonedJobs } from "../../src/db/job-leases.ts";
import { experimentKey, plannedRuns, resolveExperimentArgs, runExperiment } from "../../src/services/experiment.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { loadAppConfig } from "../../src/config.ts";
import { createServer, createServerDeps } from "../../src/server.ts";

function run(model: string, seed: number, ndcg: number[]): RunResult {
  const finite = ndcg.filter((v) => Number.isFinite(v));
  return { model, seed, modelId: 0, means: { "ndcg@10": finite.reduce((a, b) => a + b, 0) / finite.length }, perUser: { "ndcg@10": ndcg }, curve: [] };
}

describe("experiment report statistics", () => {
  it("gives mean ± standard error over seeds and the paired t-test of per-user means against the best other model", () => {
    const runs = [
      run("a", 1, [0.5, 0.4, Number.NaN, 0.6]), // mean 0.5
      run("a", 2, [0.7, 0.3, Number.NaN, 0.8]), // mean 0.6
      run("b", 1, [0.1, 0.2, Number.NaN, 0.3]), // mean 0.2
      run("b", 2, [0.3, 0.1, Number.NaN, 0.5]), // mean 0.3
    ];
    const table = resultTable({ runs, models: ["a", "b"], metrics: ["ndcg@10"] }).get("ndcg@10")!;
    const a = table.get("a")!;
    // Seeds' means 0.5 and 0.6: mean 0.55, sample sd 0.0707, SE = sd / √2 = 0.05.
    expect(a.mean).toBeCloseTo(0.55, 12);
    expect(a.standardError).toBeCloseTo(0.05, 12);
    // Per-user means a = [0.6, 0.35, 0.7], b = [0.2, 0.15, 0.4]: differences 0.4, 0.2, 0.3, mean 0.3, sd 0.1,
    // t = 0.3 / (0.1 / √3) = 5.196 with 2 df; two-sided p = 1 − t / √(2 + t²) = 0.0351: not below 0.01.
    expect(a.pValue).toBeCloseTo(1 - 5.196152 / Math.sqrt(2 + 27), 4);
    expect(a.significant).toBe(false);
    expect(formatCell(a)).toBe("0.5500 ± 0.0500");
    expect(meanAndStandardError([0.2]).standardError).toBeNaN();
  });

  it("marks † where the difference to the best other model is significant at 0.01", () => {
    const users = 60;
    const wiggle = (u: number) => ((u * 37) % 11) / 100;
    const runs = [1, 2].flatMap((seed) => [
      run("strong", seed, Array.from({ length: users }, (_, u) => 0.5 + wiggle(u))),
      run("weak", seed, Array.from({ length: users }, (_, u) => 0.2 + wiggle(u) * 0.5)),
      run("weaker", seed, Array.from({ length: users }, (_, u) => 0.19 + wiggle(u) * 0.5)),
    ]);
    const table = resultTable({ runs, models: ["strong", "weak", "weaker"], metrics: ["ndcg@10"] }).get("ndcg@10")!;
    expect(table.get("strong")!.significant).toBe(true);
    expect(formatCell(table.get("strong")).endsWith("†")).toBe(true);
  });
});

describe("runExperiment", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-experiment-"));
  const config = { latentDim: 8, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };
  let dataSource: Awaited<ReturnType<typeof openDatabase>>;
  beforeAll(async () => {
    dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));
    await ingestDataset(dataSource, { name: "tiny", source: syntheticSource({ users: 120, items: 90, vocab: 200, seed: 5 }) });
  });
  afterAll(async () => {
    await dataSource.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const withoutDate = (report: string) => report.replace(/Written [^.]+\.\d+Z\./, "");

  it("resumes from the runs it finished and gives the same report as an uninterrupted run; other arguments are refused", async () => {
    const args = resolveExperimentArgs({ dataset: "tiny", models: ["vcm", "vcm-se", "popularity"], seeds: 2, epochs: 2, config });
    const outDir = path.join(dir, "exp");
    const modelsDir = path.join(dir, "models");
    const first = await runExperiment({ dataSource, modelsDir, args, outDir });
    expect(first).toMatchObject({ runs: 6, trained: 6 });
    const full = fs.readFileSync(first.report, "utf8");
    expect(full).toContain("| vcm | ");
    expect(full).toContain("VCM-CD (from text alone)");
    expect(full).toContain("Activity cohorts, VCM against VCM-Se");
    for (const file of ["metrics-vcm.csv", "metrics-vcm-cd.csv", "cohorts.csv", "validation-curves.csv", "figure4-vcm.svg", "figure4-vcm.png", "figure2.svg", "figure2.png"]) {
      expect(fs.statSync(path.join(outDir, file)).size, file).toBeGreaterThan(50);
    }
    expect(fs.readFileSync(path.join(outDir, "figure4-vcm.svg"), "utf8")).toMatch(/^<svg/);
    // The cohorts cover every test user once.
    const cohortUsers = fs.readFileSync(path.join(outDir, "cohorts.csv"), "utf8").trim().split("\n").slice(1).reduce((s, l) => s + Number(l.split(",")[1]), 0);
    expect(cohortUsers).toBe(JSON.parse(fs.readFileSync(path.join(outDir, "experiment.json"), "utf8")).runs[0].perUser["ndcg@10"].length);
    // Five groups of equal training clicks at most (ties kept together), and the beyond-accuracy table per model.
    const cohortLines = fs.readFileSync(path.join(outDir, "cohorts.csv"), "utf8").trim().split("\n").slice(1);
    expect(cohortLines.length).toBeGreaterThanOrEqual(2);
    expect(cohortLines.length).toBeLessThanOrEqual(5);
    expect(full).toContain("## Beyond accuracy at 10");
    const beyond = fs.readFileSync(path.join(outDir, "beyond-accuracy.csv"), "utf8").trim().split("\n");
    expect(beyond[0]).toBe("model,coverage,arp,aplt,novelty,recall20_head,recall20_torso,recall20_tail");
    const recorded = JSON.parse(fs.readFileSync(path.join(outDir, "experiment.json"), "utf8")).runs.filter((r: { model: string; mode: string }) => r.model === "popularity" && r.mode === "vcm");
    const popularity = beyond.find((l) => l.startsWith("popularity,"))!.split(",").map(Number);
    expect(popularity[1]).toBeCloseTo((recorded[0].beyondAccuracy.coverage + recorded[1].beyondAccuracy.coverage) / 2, 12);
    // The popularity baseline recommends (nearly) the same ten items to everyone: the least coverage, the most popular items.
    const vcmRow = beyond.find((l) => l.startsWith("vcm,"))!.split(",").map(Number);
    expect(popularity[1]).toBeLessThan(vcmRow[1]);
    expect(popularity[2]).toBeGreaterThan(vcmRow[2]);
    // Recall@20 by item cohort: each run's pooled recall, averaged over the seeds.
    expect(popularity[5]).toBeCloseTo((recorded[0].itemCohortRecall.head + recorded[1].itemCohortRecall.head) / 2, 12);
    expect(vcmRow.slice(5).every((v) => v >= 0 && v <= 1)).toBe(true);

    // As if killed before its last run was recorded: that run alone trains again, with the same seed.
    const stateFile = path.join(outDir, "experiment.json");
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    state.runs = state.runs.filter((r: { model: string; seed: number }) => !(r.model === "vcm" && r.seed === 2));
    fs.writeFileSync(stateFile, JSON.stringify(state));
    const resumed = await runExperiment({ dataSource, modelsDir, args, outDir });
    expect(resumed).toMatchObject({ runs: 6, trained: 1, experimentId: first.experimentId });
    expect(withoutDate(fs.readFileSync(resumed.report, "utf8"))).toBe(withoutDate(full));

    // The experiment over GraphQL: one row for both calls, its tables as in the CSV.
    const server = await createServer(createServerDeps({ dataSource, config: loadAppConfig({ dbPath: path.join(dir, "vcm.sqlite"), modelsDir }, {}) }));
    try {
      const answer = await server.execute({ query: `{ experiments(dataset: "tiny") { id status runsDone runsTotal args results dataset { name } } }` });
      expect(answer.errors).toBeUndefined();
      const [experiment] = (answer.data as any).experiments;
      expect(experiment).toMatchObject({ id: String(first.experimentId), status: "FINISHED", runsDone: 6, runsTotal: 6, dataset: { name: "tiny" }, args: { models: ["vcm", "vcm-se", "popularity"], seeds: 2 } });
      const csvRow = fs.readFileSync(path.join(outDir, "metrics-vcm.csv"), "utf8").split("\n").find((l) => l.startsWith("vcm,"))!;
      expect(experiment.results.vcm.vcm["ndcg@10"].mean).toBeCloseTo(Number(csvRow.split(",")[1]), 12);
      const missing = await server.execute({ query: `{ experiment(id: "999") { id } }` });
      expect(missing.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    } finally {
      await server.stop();
    }

    const other = resolveExperimentArgs({ dataset: "tiny", models: ["vcm"], seeds: 3, epochs: 2, config });
    const refused = await runExperiment({ dataSource, modelsDir, args: other, outDir }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).message).toMatch(/other arguments.*same arguments to resume it, or another --out/);
    expect(() => resolveExperimentArgs({ dataset: "tiny", models: ["vcm", "nope"], seeds: 2 })).toThrow(/Unknown variant "nope"/);
    expect(() => resolveExperimentArgs({ dataset: "tiny", models: ["vcm"], seeds: 1, grid: { latentDim: [0] } })).toThrow(/latentDim/);
  }, 120_000);

  it("records each finished run on its own experiment row while it runs, not on another row", async () => {
    const args = resolveExperimentArgs({ dataset: "tiny", models: ["vcm", "popularity"], seeds: 2, epochs: 1, config });
    const outDir = path.join(dir, "progress");
    // A second connection reads the rows synchronously, at the moment each run is reported.
    const reader = new Database(path.join(dir, "vcm.sqlite"), { readonly: true });
    type Row = { id: number; out_dir: string; runs_done: number };
    const readRows = () => reader.prepare("SELECT id, out_dir, runs_done FROM experiments ORDER BY id").all() as Row[];
    const before = readRows();
    const seen: Array<{ done: number; rows: Row[] }> = [];
    try {
      const result = await runExperiment({
        dataSource,
        modelsDir: path.join(dir, "models"),
        args,
        outDir,
        onProgress: (event) => seen.push({ done: event.done, rows: readRows() }),
      });
      expect(result.trained).toBe(4);
    } finally {
      reader.close();
    }
    expect(seen.map((s) => s.done)).toEqual([1, 2, 3, 4]);
    for (const { done, rows } of seen) {
      expect(rows.find((r) => r.out_dir === path.resolve(outDir))?.runs_done).toBe(done);
      // The other tests' experiments keep their counts (a model's id is never taken for the experiment's).
      expect(rows.filter((r) => r.out_dir !== path.resolve(outDir))).toEqual(before);
    }
  }, 120_000);

  it("owns its row like a training job: refused while another host's lease holds, taken over once it ran out, stopped by a cancel", async () => {
    const args = resolveExperimentArgs({ dataset: "tiny", models: ["popularity"], seeds: 3 });
    const outDir = path.join(dir, "owned");
    const modelsDir = path.join(dir, "models");
    const [dataset] = (await dataSource.query("SELECT id FROM datasets WHERE name = 'tiny'")) as Array<{ id: number }>;
    const start = { datasetId: dataset.id, key: experimentKey(args), args: { ...args }, outDir: path.resolve(outDir), runsTotal: plannedRuns(args) };
    // A process on another host runs it, its lease still running.
    const elsewhere = "another-host:4242:abcd1234";
    const claimed = (await claimExperimentRow(dataSource, { start, owner: elsewhere, leaseMs: 60_000, handedBy: null }))!;
    const refused = await runExperiment({ dataSource, modelsDir, args, outDir }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).message).toBe(`Experiment ${claimed.id} with these arguments is running in another process; wait for it, or cancel it with \`vcm cancel-experiment ${claimed.id}\`.`);
    expect(await failAbandonedJobs(dataSource, { table: Experiment, error: "gone", exceptOwner: "me" })).toEqual([]);
    // Its lease runs out: failed once, by whichever process sweeps first.
    await dataSource.getRepository(Experiment).update(claimed.id, { leaseExpiresAt: Date.now() - 1 });
    expect(await failAbandonedJobs(dataSource, { table: Experiment, error: "gone", exceptOwner: "me" })).toEqual([claimed.id]);
    expect(await failAbandonedJobs(dataSource, { table: Experiment, error: "gone", exceptOwner: "me" })).toEqual([]);

    // Started again here, and cancelled after its first run: the row says so, and the next start resumes.
    const cancel = new AbortController();
    const stopped = await runExperiment({ dataSource, modelsDir, args, outDir, signal: cancel.signal, onProgress: () => cancel.abort() }).catch((error: unknown) => error);
    expect((stopped as UserError).message).toBe(`Experiment ${claimed.id} was cancelled after 1 of 3 runs; start it again with the same arguments to resume it.`);
    expect(await dataSource.getRepository(Experiment).findOneByOrFail({ id: claimed.id })).toMatchObject({ status: "cancelled", runsDone: 1, owner: expect.stringContaining(`:${process.pid}:`) });
    const resumed = await runExperiment({ dataSource, modelsDir, args, outDir });
    expect(resumed).toMatchObject({ experimentId: claimed.id, runs: 3, trained: 2 });
    expect(await dataSource.getRepository(Experiment).findOneByOrFail({ id: claimed.id })).toMatchObject({ status: "finished", runsDone: 3, error: null });
  });

  it("trains VCM over the K × β grid and reports its best validation NDCG@100 per cell", async () => {
    const args = resolveExperimentArgs({ dataset: "tiny", models: ["vcm"], seeds: 1, epochs: 2, config, grid: { latentDim: [4, 8], beta: [0.2, 0.4] } });
    const outDir = path.join(dir, "grid");
    const result = await runExperiment({ dataSource, modelsDir: path.join(dir, "models"), args, outDir });
    expect(result.trained).toBe(1 + 4);
    const report = fs.readFileSync(result.report, "utf8");
    expect(report).toContain("Sensitivity of vcm to latentDim × beta");
    expect(report).toContain("| vcm | latentDim 8, hiddenX 16, hiddenY 16, annealSteps 10, epochs 2, batchSize 50 |");
    const rows = fs.readFileSync(path.join(outDir, "grid-vcm.csv"), "utf8").trim().split("\n");
    expect(rows[0]).toBe("latentDim,beta=0.2,beta=0.4");
    const state = JSON.parse(fs.readFileSync(path.join(outDir, "experiment.json"), "utf8"));
    const k4b2 = state.gridRuns.find((r: any) => r.cell.latentDim === 4 && r.cell.beta === 0.2);
    expect(Number(rows[1].split(",")[1])).toBeCloseTo(k4b2.bestValNdcg100, 12);
    // The stored run trained with its cell's values and the shared settings.
    const [stored] = (await dataSource.query("SELECT config FROM trained_models WHERE id = ?", [k4b2.modelId])) as Array<{ config: string }>;
    expect(JSON.parse(stored.config)).toMatchObject({ variant: "vcm", latentDim: 4, beta: 0.2, annealSteps: 10, epochs: 2, seed: 1 });
    expect(fs.statSync(path.join(outDir, "figure3-vcm.png")).size).toBeGreaterThan(1000);
  }, 120_000);
});
