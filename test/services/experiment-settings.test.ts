/**
 * An experiment's hyper-parameters (issue 28, item 1): every setting of the config table applied to the
 * listed models that read it and refused with a sentence when none does; grids over any numeric setting,
 * several making a product per model over the axes it reads, within the bounds of today's K × β grid.
 */
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.ts";
import { MAX_EXPERIMENT_RUNS, MAX_GRID_VALUES, plannedRuns, resolveExperimentArgs, runConfig } from "../../src/services/experiment.ts";
import { gridCellsOf, nonDefaultSettings, settingsText } from "../../src/services/experiment-settings.ts";

function refusal(f: () => unknown): UserError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe("BAD_USER_INPUT");
    return error as UserError;
  }
  throw new Error("not refused");
}

describe("experiment settings", () => {
  it("applies each setting to the models that read it and leaves the others at their defaults", () => {
    const args = resolveExperimentArgs({ dataset: "d", models: ["vcm", "cdl", "deepconn", "popularity"], seeds: 2, config: { annealSteps: 2000, textOffsetReg: 3, learningRate: 0.005, epochs: 7 } });
    expect(args.epochs).toBe(7);
    const vcm = runConfig(args, "vcm", { seed: 2 });
    expect(vcm).toMatchObject({ variant: "vcm", annealSteps: 2000, learningRate: 0.005, epochs: 7, seed: 2, textOffsetReg: 10 });
    const cdl = runConfig(args, "cdl", { seed: 1 });
    expect(cdl).toMatchObject({ variant: "cdl", annealSteps: 40_000, textOffsetReg: 3, learningRate: 0.005, epochs: 7 });
    // DeepCoNN reads the learning rate but not λv; its own default optimiser stays.
    expect(runConfig(args, "deepconn", { seed: 1 })).toMatchObject({ textOffsetReg: 10, learningRate: 0.005, baselineOptimizer: "rmsprop" });
    expect(settingsText(nonDefaultSettings(cdl))).toBe("epochs 7, learningRate 0.005, textOffsetReg 3");
    expect(settingsText(nonDefaultSettings(runConfig(args, "popularity", {})))).toBe("the defaults");
    expect(plannedRuns(args)).toBe(8);
  });

  it("refuses, with a sentence, a setting that no chosen model reads, the seed, and unknown names", () => {
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm", "popularity"], seeds: 1, config: { textOffsetReg: 3 } })).message).toBe(
      "textOffsetReg is read only by cdl, cvae, and none of the chosen models (vcm, popularity) reads it; add one of them to the models, or leave textOffsetReg out.",
    );
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["popularity"], seeds: 1, epochs: 3 })).message).toMatch(/^epochs is read only by vcm, .*none of the chosen models \(popularity\)/);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, config: { seed: 4 } })).message).toBe(
      "seed is set by the experiment itself (its runs use seeds 1 … seeds); leave it out and give seeds instead.",
    );
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, config: { evalBatchSize: 4 } })).message).toMatch(/^"evalBatchSize" is not a training setting/);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, config: { annealSteps: 0 } })).message).toMatch(/^annealSteps must be an integer from 1 to/);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, epochs: 3, config: { epochs: 4 } })).message).toBe("epochs is given twice (3 and 4); give it once.");
  });

  it("trains each model over the product of the grid axes it reads, with the right settings", () => {
    const args = resolveExperimentArgs({
      dataset: "d",
      models: ["vcm", "cdl", "popularity"],
      seeds: 2,
      config: { annealSteps: 50 },
      grid: { beta: [0.2, 0.6, 0.2], learningRate: [0.001, 0.01] },
    });
    // Axes in the table's order, duplicates removed.
    expect(args.grid).toEqual({ beta: [0.2, 0.6], learningRate: [0.001, 0.01] });
    expect(gridCellsOf(args.grid, "vcm")).toEqual([
      { beta: 0.2, learningRate: 0.001 },
      { beta: 0.2, learningRate: 0.01 },
      { beta: 0.6, learningRate: 0.001 },
      { beta: 0.6, learningRate: 0.01 },
    ]);
    // CDL reads the learning rate, not β; popularity reads neither.
    expect(gridCellsOf(args.grid, "cdl")).toEqual([{ learningRate: 0.001 }, { learningRate: 0.01 }]);
    expect(gridCellsOf(args.grid, "popularity")).toEqual([]);
    // (3 models + 4 VCM cells + 2 CDL cells) × 2 seeds.
    expect(plannedRuns(args)).toBe((3 + 4 + 2) * 2);
    expect(runConfig(args, "vcm", { ...gridCellsOf(args.grid, "vcm")[3], seed: 2 })).toMatchObject({ beta: 0.6, learningRate: 0.01, annealSteps: 50, seed: 2 });
    // Today's K × β grid, as before.
    const figure3 = resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { latentDim: [50, 100], beta: [0.2, 0.4] } });
    expect(JSON.stringify(figure3.grid)).toBe('{"latentDim":[50,100],"beta":[0.2,0.4]}');
  });

  it("checks grids against each field's bounds and today's limits before anything runs", () => {
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { latentDim: [0, 4] } })).message).toMatch(/^latentDim must be an integer from 1 to 1,000, got 0/);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { dropout: [0.5, 1] } })).message).toMatch(/^dropout must be a number from 0 \(inclusive\) to 1 \(exclusive\), got 1/);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { textOffsetReg: [1, 2] } })).message).toMatch(/^textOffsetReg is read only by cdl, cvae/);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["cdl"], seeds: 1, grid: { tiedWeights: [1] } })).message).toBe("A grid runs over numeric settings; tiedWeights is true or false: set it once instead.");
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { seed: [1, 2] } })).message).toMatch(/^seed is set by the experiment itself/);
    const many = Array.from({ length: MAX_GRID_VALUES + 1 }, (_, i) => i + 1);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { latentDim: many } })).message).toBe(`The grid's latentDim lists 21 distinct values; at most ${MAX_GRID_VALUES} per axis.`);
    // 20 × 20 × 20 cells: counted, not expanded.
    const twenty = many.slice(0, MAX_GRID_VALUES);
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["vcm"], seeds: 1, grid: { latentDim: twenty, hiddenX: twenty, hiddenY: twenty } })).message).toBe(
      `These arguments plan 8,001 runs (models × seeds + grid cells × seeds); an experiment may plan at most ${MAX_EXPERIMENT_RUNS.toLocaleString("en-US")}: use fewer seeds, models or grid values.`,
    );
    // The cross-field check holds in every cell: b ≤ a.
    expect(refusal(() => resolveExperimentArgs({ dataset: "d", models: ["cdl"], seeds: 1, grid: { confidenceObserved: [1, 0.001] } })).message).toMatch(/^confidenceUnobserved \(b\) must not exceed/);
  });
});
