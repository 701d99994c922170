/**
 * `vcm experiment` takes `vcm train`'s flags (issue 28, item 1), through the real bin: each flag reaches the
 * trainer of the listed models that read it (the stored runs' configurations say so) and no other; a flag
 * no listed model reads is refused with a sentence; two grids give the product of runs per model.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm, type VcmRun } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-cli-experiment-"));
const db = path.join(dir, "vcm.sqlite");
const env = { ...process.env, VCM_DB: db, VCM_MODELS_DIR: path.join(dir, "models"), VCM_BACKEND: "wasm" };

function vcm(args: string[]): VcmRun {
  return runVcm(args, env);
}

const SMALL = ["--epochs", "1", "--latent-dim", "4", "--hidden-x", "16", "--hidden-y", "16", "--batch-size", "50", "--baseline-latent-dim", "4", "--sdae-hidden", "16"];

describe("vcm experiment's settings through the real bin", () => {
  beforeAll(() => {
    expect(vcm(["generate", "--dataset", "tiny", "--users", "120", "--items", "90", "--vocab", "200", "--json"]).code).toBe(0);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a flag that no listed model reads, and a grid over a setting it sets itself", () => {
    const refused = vcm(["experiment", "--dataset", "tiny", "--models", "vcm,popularity", "--seeds", "1", "--text-offset-reg", "3", "--out", path.join(dir, "refused")]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("textOffsetReg is read only by cdl, cvae, and none of the chosen models (vcm, popularity) reads it; add one of them to the models, or leave textOffsetReg out.");
    const seed = vcm(["experiment", "--dataset", "tiny", "--models", "vcm", "--seeds", "1", "--grid", "seed=1,2", "--out", path.join(dir, "refused")]);
    expect(seed.code).not.toBe(0);
    expect(seed.stderr).toContain("seed is set by the experiment itself");
    expect(vcm(["experiment", "--help"]).stdout).toMatch(/--anneal-steps <n>[\s\S]*--text-offset-reg <x>/);
    expect(fs.existsSync(path.join(dir, "refused"))).toBe(false);
  });

  it("applies each flag to the models that read it, and trains each model over the product of the grids it reads", () => {
    const out = path.join(dir, "exp");
    const run = vcm([
      "experiment", "--dataset", "tiny", "--models", "vcm,cdl,popularity", "--seeds", "1", ...SMALL,
      "--anneal-steps", "7", "--text-offset-reg", "3", "--grid", "beta=0.2,0.6", "--grid", "lr=0.001,0.01", "--out", out, "--json",
    ]);
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    // vcm: 1 + 2 × 2 cells; cdl (reads lr, not β): 1 + 2; popularity: 1.
    expect(run.last).toMatchObject({ runs: 3, trained: 1 + 4 + 1 + 2 + 1 });
    const reader = new Database(db, { readonly: true });
    const rows = (reader.prepare("SELECT variant, config FROM trained_models WHERE status = 'ready' ORDER BY id").all() as Array<{ variant: string; config: string }>).map((r) => ({
      variant: r.variant,
      config: JSON.parse(r.config) as Record<string, unknown>,
    }));
    reader.close();
    const vcmRuns = rows.filter((r) => r.variant === "vcm");
    const cdlRuns = rows.filter((r) => r.variant === "cdl");
    // Every VCM run reads --anneal-steps, and none takes CDL's λv; every CDL run takes λv and not VCM's annealing.
    expect(vcmRuns.every((r) => r.config.annealSteps === 7 && r.config.textOffsetReg === 10 && r.config.latentDim === 4)).toBe(true);
    expect(cdlRuns.every((r) => r.config.textOffsetReg === 3 && r.config.annealSteps === 40_000 && r.config.baselineLatentDim === 4)).toBe(true);
    expect(vcmRuns.map((r) => [r.config.beta, r.config.learningRate])).toEqual([[0.4, 0.001], [0.2, 0.001], [0.2, 0.01], [0.6, 0.001], [0.6, 0.01]]);
    expect(cdlRuns.map((r) => [r.config.beta, r.config.learningRate])).toEqual([[0.4, 0.001], [0.4, 0.001], [0.4, 0.01]]);
    const report = fs.readFileSync(path.join(out, "report.md"), "utf8");
    expect(report).toContain("| vcm | latentDim 4, hiddenX 16, hiddenY 16, annealSteps 7, epochs 1, batchSize 50 |");
    expect(report).toContain("| cdl | epochs 1, batchSize 50, baselineLatentDim 4, textOffsetReg 3, sdaeHidden 16 |");
    expect(report).toContain("| popularity | none: it reads no setting |");
    expect(report).toContain("Grids: beta ∈ {0.2, 0.6}; learningRate ∈ {0.001, 0.01}.");
    expect(fs.readFileSync(path.join(out, "grid-cdl.csv"), "utf8").split("\n")[0]).toBe("learningRate,best_val_ndcg100");
    expect(fs.readFileSync(path.join(out, "grid-vcm.csv"), "utf8").split("\n")[0]).toBe("beta,learningRate=0.001,learningRate=0.01");
  }, 300_000);
});
