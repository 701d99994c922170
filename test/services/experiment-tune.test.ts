/**
 * `vcm experiment --tune N` (issue 28, item 2): the pure search picks the trial with the best score on a
 * planted scorer whose answer is known, resumes without scoring a trial twice, and never picks an unscored
 * one; each family's space comes from the config table; on a real SQLite file, a tuned experiment trains its
 * seeds at the best trial's values, keeps its trials in its report and is a row of its own (tune_trials).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { Experiment } from "../../src/db/entities/experiment.entity.ts";
import { UserError } from "../../src/errors.ts";
import { plannedRuns, resolveExperimentArgs, runExperiment } from "../../src/services/experiment.ts";
import { bestTrial, drawTrials, tune, tuneSpace, type TuneAxis } from "../../src/services/experiment-tune.ts";
import { ingestDataset } from "../../src/services/ingest.ts";

const SPACE: TuneAxis[] = [
  { name: "learningRate", min: 1e-4, max: 1e-2, scale: "log", integer: false },
  { name: "beta", min: 0.05, max: 1, scale: "linear", integer: false },
];

describe("the tuner", () => {
  it("picks the trial with the best score on a planted scorer, and draws the same trials for a seed", async () => {
    // The planted answer: the closer the learning rate to 0.003 (in log space), the better; β does not matter.
    const planted = (settings: Readonly<Record<string, number>>) => -Math.abs(Math.log10(settings.learningRate ?? 0.001) - Math.log10(0.003));
    const scored: Array<Readonly<Record<string, number>>> = [];
    const result = await tune({ space: SPACE, trials: 12, seed: 1, score: async (s) => (scored.push(s), planted(s)) });
    expect(result.trials).toHaveLength(12);
    expect(scored).toHaveLength(12);
    // Trial 1 is the untuned settings; the others lie in the space, drawn in log space for the rate.
    expect(result.trials[0].settings).toEqual({});
    for (const { settings } of result.trials.slice(1)) {
      expect(settings.learningRate).toBeGreaterThanOrEqual(1e-4);
      expect(settings.learningRate).toBeLessThanOrEqual(1e-2);
      expect(settings.beta).toBeGreaterThanOrEqual(0.05);
      expect(settings.beta).toBeLessThanOrEqual(1);
    }
    const closest = result.trials.slice(1).reduce((a, b) => (Math.abs(Math.log10(a.settings.learningRate / 0.003)) <= Math.abs(Math.log10(b.settings.learningRate / 0.003)) ? a : b));
    expect(result.best).toBe(closest);
    expect(Math.abs(Math.log10(result.best!.settings.learningRate / 0.003))).toBeLessThan(Math.abs(Math.log10(0.001 / 0.003)));
    expect(drawTrials({ space: SPACE, trials: 12, seed: 1 })).toEqual(result.trials.map((t) => t.settings));
    expect(drawTrials({ space: SPACE, trials: 12, seed: 2 })).not.toEqual(result.trials.map((t) => t.settings));
  });

  it("resumes without scoring a finished trial again, and never picks an unscored trial", async () => {
    const first = await tune({ space: SPACE, trials: 5, seed: 1, score: async (s) => s.beta ?? 0 });
    const scored: number[] = [];
    const resumed = await tune({ space: SPACE, trials: 5, seed: 1, done: first.trials.slice(0, 3), score: async (s) => (scored.push(s.beta), s.beta) });
    expect(scored).toEqual([first.trials[3].settings.beta, first.trials[4].settings.beta]);
    expect(resumed.trials).toEqual(first.trials);
    expect(bestTrial([{ settings: { beta: 1 }, score: Number.NaN }, { settings: { beta: 2 }, score: 0.1 }])?.settings).toEqual({ beta: 2 });
    expect(bestTrial([{ settings: {}, score: Number.NaN }])).toBeUndefined();
  });

  it("searches each family's learning rate and main regularisation weights, less what the experiment fixes", () => {
    const names = (axes: TuneAxis[]) => axes.map((a) => a.name);
    expect(names(tuneSpace("vcm", new Set()))).toEqual(["beta", "learningRate"]);
    expect(names(tuneSpace("vcm-se", new Set(["beta"])))).toEqual(["learningRate"]);
    expect(names(tuneSpace("cdl", new Set()))).toEqual(["learningRate", "textOffsetReg", "itemFactorReg"]);
    expect(names(tuneSpace("deepconn", new Set()))).toEqual(["learningRate", "deepconnDropout"]);
    expect(tuneSpace("popularity", new Set())).toEqual([]);
    // Trials count towards the run bound, once per tuned model.
    expect(plannedRuns(resolveExperimentArgs({ dataset: "d", models: ["vcm", "cdl", "popularity"], seeds: 2, tune: 4 }))).toBe(3 * 2 + 2 * 4);
    expect(() => resolveExperimentArgs({ dataset: "d", models: ["popularity"], seeds: 1, tune: 4 })).toThrow(/has a setting left to tune/);
    expect(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, tune: 101 })).toThrow(UserError);
  });
});

describe("a tuned experiment", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-experiment-tune-"));
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

  it("trains its seeds at the best trial's values, reports the space, trials and choice, and is kept apart from the untuned one", async () => {
    const modelsDir = path.join(dir, "models");
    const tuned = resolveExperimentArgs({ dataset: "tiny", models: ["vcm", "popularity"], seeds: 2, epochs: 3, config, tune: 3 });
    const result = await runExperiment({ dataSource, modelsDir, args: tuned, outDir: path.join(dir, "tuned") });
    // The trials are not models: two seeds of each model.
    expect(result).toMatchObject({ runs: 4, trained: 4 });
    const state = JSON.parse(fs.readFileSync(path.join(dir, "tuned", "experiment.json"), "utf8"));
    const trials: Array<{ settings: Record<string, number>; score: number }> = state.tuning.vcm;
    expect(trials).toHaveLength(3);
    expect(trials.every((t) => t.score > 0 && t.score <= 1)).toBe(true);
    const best = trials.reduce((a, b) => (b.score > a.score ? b : a));
    const chosen = { learningRate: 0.001, beta: 0.4, ...best.settings };
    // Both seeds of VCM trained at the chosen values, with the shared settings.
    const vcmRuns = state.runs.filter((r: any) => r.model === "vcm" && r.mode === "vcm");
    for (const run of vcmRuns) {
      const [row] = (await dataSource.query("SELECT config FROM trained_models WHERE id = ?", [run.modelId])) as Array<{ config: string }>;
      expect(JSON.parse(row.config)).toMatchObject({ ...chosen, annealSteps: 10, epochs: 3, seed: run.seed });
    }
    const report = fs.readFileSync(result.report, "utf8");
    expect(report).toContain("## Tuning");
    expect(report).toContain("Space: beta 0.05–1 (linear), learningRate 0.0001–0.01 (log).");
    expect(report).toMatch(/\| \d \(chosen\) \|/);
    expect(report).toContain("- popularity: nothing to tune");
    expect(fs.readFileSync(path.join(dir, "tuned", "tuning.csv"), "utf8").trim().split("\n")).toHaveLength(1 + 3);
    const row = await dataSource.getRepository(Experiment).findOneByOrFail({ id: result.experimentId });
    expect(row).toMatchObject({ tuneTrials: 3, runsTotal: 2 * 2 + 3, runsDone: 2 * 2 + 3, status: "finished" });
    expect((row.results as any).tuning.vcm.chosen).toEqual(best.settings);
    expect((row.results as any).tuning.vcm.trials.map((t: any) => t.bestValNdcg100)).toEqual(trials.map((t) => t.score));

    // The same experiment untuned: a row of its own, tune_trials 0.
    const untuned = await runExperiment({ dataSource, modelsDir, args: resolveExperimentArgs({ dataset: "tiny", models: ["popularity"], seeds: 1 }), outDir: path.join(dir, "untuned") });
    const rows = (await dataSource.query("SELECT id, tune_trials FROM experiments ORDER BY id")) as Array<{ id: number; tune_trials: number }>;
    expect(rows).toEqual([
      { id: result.experimentId, tune_trials: 3 },
      { id: untuned.experimentId, tune_trials: 0 },
    ]);
  }, 180_000);
});
