import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";
import { runVcm, type VcmRun } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-cli-models-"));
// The project's database (a SQLite file, or a fresh PostgreSQL database in the postgres project).
let database: TestDatabase;
let env: NodeJS.ProcessEnv;

function vcm(args: string[]): VcmRun {
  return runVcm(args, env);
}

const METRICS = ["ndcg@10", "ndcg@20", "ndcg@50", "ndcg@100", "recall@10", "recall@20", "recall@50", "recall@100"];
const SMALL = ["--epochs", "2", "--latent-dim", "8", "--hidden-x", "32", "--hidden-y", "32", "--batch-size", "50", "--anneal-steps", "20"];

describe("vcm train / evaluate / compare / models through the real bin", () => {
  let trained: VcmRun;
  let popularity: VcmRun;

  beforeAll(async () => {
    database = await createTestDatabase();
    env = { ...process.env, VCM_DB: database.target, VCM_MODELS_DIR: path.join(dir, "models"), VCM_BACKEND: "wasm" };
    const generated = vcm(["generate", "--dataset", "tiny", "--users", "200", "--items", "150", "--vocab", "300", "--json"]);
    expect(generated.code).toBe(0);
    trained = vcm(["train", "--dataset", "tiny", "--variant", "vcm", ...SMALL, "--json"]);
    popularity = vcm(["train", "--dataset", "tiny", "--variant", "popularity", "--json"]);
  });
  afterAll(async () => {
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("train prints progress per epoch on stderr and one JSON summary on stdout", () => {
    expect(trained.code).toBe(0);
    expect(trained.stdout.trim().split("\n")).toHaveLength(1);
    expect(trained.stderr).toMatch(/epoch 1: .*validation NDCG@100 \d\.\d{4}/);
    expect(trained.stderr).toMatch(/epoch 2: /);
    const s = trained.last;
    expect(s).toMatchObject({ modelId: 1, variant: "vcm", backend: "wasm", epochs: 2 });
    expect([1, 2]).toContain(s.bestEpoch);
    expect(s.secondsPerEpoch).toBeGreaterThan(0);
    expect(Object.keys(s.metrics)).toEqual(METRICS);
    expect(Object.keys(s.metricsCd)).toEqual(METRICS);
    expect(fs.existsSync(path.join(dir, "models", "model-1", "weights.bin"))).toBe(true);
    expect(popularity.code).toBe(0);
    expect(popularity.last).toMatchObject({ modelId: 2, variant: "popularity", bestEpoch: 0 });
    expect(popularity.last.metricsCd).toBeUndefined();
  });

  it("evaluate reproduces the metrics printed at training time, in both modes", () => {
    const vcmMode = vcm(["evaluate", "--model", "1", "--json"]);
    expect(vcmMode.code).toBe(0);
    expect(vcmMode.last).toMatchObject({ modelId: 1, mode: "vcm", users: 200 });
    expect(vcmMode.last.metrics).toEqual(trained.last.metrics);
    const cd = vcm(["evaluate", "--model", "1", "--mode", "vcm-cd", "--json"]);
    expect(cd.last.metrics).toEqual(trained.last.metricsCd);
    const text = vcm(["evaluate", "--model", "2"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/recall@100\s+0\.\d{4}/);
  });

  it("compare gives both means, their difference and a paired t-test p-value", () => {
    const c = vcm(["compare", "--model", "1", "--model", "2", "--metric", "recall@20", "--json"]);
    expect(c.code).toBe(0);
    expect(c.last).toMatchObject({ metric: "recall@20", dataset: "tiny", users: 200, df: 199 });
    expect(c.last.modelA).toMatchObject({ id: 1, variant: "vcm", mode: "vcm", mean: trained.last.metrics["recall@20"] });
    expect(c.last.modelB).toMatchObject({ id: 2, variant: "popularity", mean: popularity.last.metrics["recall@20"] });
    expect(c.last.difference).toBeCloseTo(c.last.modelA.mean - c.last.modelB.mean, 12);
    expect(c.last.pValue).toBeGreaterThanOrEqual(0);
    expect(c.last.pValue).toBeLessThanOrEqual(1);
    const text = vcm(["compare", "--model", "1", "--model", "1"]);
    expect(text.stdout).toMatch(/difference 0\.0000, .*p = 1\.00/);
  });

  it("models lists every trained model with its metrics", () => {
    const listed = vcm(["models", "--json"]);
    expect(listed.code).toBe(0);
    expect(listed.last.models.map((m: any) => [m.id, m.variant, m.status, m.dataset])).toEqual([
      [1, "vcm", "ready", "tiny"],
      [2, "popularity", "ready", "tiny"],
    ]);
    expect(listed.last.models[0].metrics).toEqual(trained.last.metrics);
    const text = vcm(["models", "--dataset", "tiny"]);
    expect(text.stdout.split("\n")[0]).toMatch(/^id\s+dataset\s+variant\s+status/);
  });

  it("bad input is a sentence on stderr, a JSON error line and exit code 1", () => {
    const cases: Array<[string[], string, RegExp]> = [
      [["train", "--dataset", "nope", "--variant", "vcm"], "NOT_FOUND", /no dataset "nope"; known: tiny/],
      [["train", "--dataset", "tiny", "--variant", "vcm-xl"], "BAD_USER_INPUT", /Unknown variant "vcm-xl"; choose one of vcm, vcm-se/],
      [["train", "--dataset", "tiny", "--variant", "vcm", "--epochs", "two"], "BAD_USER_INPUT", /--epochs takes an integer/],
      [["train", "--dataset", "tiny", "--variant", "deepconn", "--baseline-optimizer", "sgd"], "BAD_USER_INPUT", /--baseline-optimizer takes adam or rmsprop, got "sgd"/],
      [["train", "--dataset", "tiny", "--variant", "deepconn", "--deepconn-dropout", "1"], "BAD_USER_INPUT", /deepconnDropout must be a number from 0 \(inclusive\) to 1 \(exclusive\), got 1/],
      [["evaluate", "--model", "2", "--mode", "vcm-cd"], "BAD_USER_INPUT", /popularity baseline.*no vcm-cd mode/],
      [["evaluate", "--model", "99"], "NOT_FOUND", /There is no model 99/],
      [["evaluate", "--model", "1", "--mode", "words"], "BAD_USER_INPUT", /Unknown mode "words"/],
      [["compare", "--model", "1", "--model", "2", "--metric", "ndcg@7"], "BAD_USER_INPUT", /Unknown metric "ndcg@7"/],
      [["compare", "--model", "1"], "BAD_USER_INPUT", /exactly two models/],
      [["models", "--dataset", "nope"], "NOT_FOUND", /no dataset "nope"/],
    ];
    for (const [args, code, sentence] of cases) {
      const run = vcm([...args, "--json"]);
      expect(run.code, args.join(" ")).toBe(1);
      expect(run.stderr).toMatch(sentence);
      expect(run.last).toMatchObject({ error: { code } });
    }
    // Nothing was created by the failed trainings.
    expect(vcm(["models", "--json"]).last.models).toHaveLength(2);
  });

  it("refuses a sampled softmax for a baseline, which does not read it, instead of ignoring it", () => {
    const run = vcm(["train", "--dataset", "tiny", "--variant", "cvae", "--sampled-softmax", "64", "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/sampledSoftmax is read only by vcm, vcm-se, vcm-od, vcm-nv, not by cvae; leave sampledSoftmax out for cvae/);
    expect(run.last).toMatchObject({ error: { code: "BAD_USER_INPUT" } });
  });

  it("refuses before training when the models folder cannot be written, naming it, and records nothing", () => {
    // A folder below a regular file cannot be created, even by root (chmod would not stop root).
    const blocker = path.join(dir, "not-a-folder");
    fs.writeFileSync(blocker, "");
    const folder = path.join(blocker, "models");
    const started = Date.now();
    const run = runVcm(["train", "--dataset", "tiny", "--variant", "vcm", "--epochs", "200", "--json"], { ...env, VCM_MODELS_DIR: folder });
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({ error: { code: "BAD_USER_INPUT" } });
    expect(run.stderr).toContain(`The models folder ${folder} cannot be written (ENOTDIR)`);
    expect(run.stderr).not.toMatch(/epoch 1:/);
    // 200 epochs would take minutes: the refusal comes before the first.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(vcm(["models", "--json"]).last.models).toHaveLength(2);
  });

  it("train takes the baselines' optimiser, dropout and tied-weights flags and stores them with the model", () => {
    const small = ["--epochs", "1", "--batch-size", "100", "--baseline-latent-dim", "6", "--deepconn-embedding", "8", "--deepconn-filters", "8", "--deepconn-tokens", "16"];
    const manifest = (run: VcmRun): Record<string, any> => JSON.parse(fs.readFileSync(path.join(run.last.checkpoint, "manifest.json"), "utf8")).config;
    const deepconn = vcm(["train", "--dataset", "tiny", "--variant", "deepconn", ...small, "--baseline-optimizer", "adam", "--deepconn-dropout", "0.2", "--json"]);
    expect(deepconn.code, deepconn.stderr).toBe(0);
    // Adam asked for; the learning rate stays deepconn's own default.
    expect(manifest(deepconn)).toMatchObject({ variant: "deepconn", baselineOptimizer: "adam", deepconnDropout: 0.2, learningRate: 0.002 });
    const cdl = vcm(["train", "--dataset", "tiny", "--variant", "cdl", ...small, "--sdae-hidden", "8", "--no-tied-weights", "--json"]);
    expect(cdl.code, cdl.stderr).toBe(0);
    expect(manifest(cdl)).toMatchObject({ variant: "cdl", tiedWeights: false, baselineOptimizer: "adam", learningRate: 0.001 });
    const help = vcm(["train", "--help"]);
    expect(help.stdout).toMatch(/--baseline-optimizer <name>/);
    expect(help.stdout).toMatch(/--no-tied-weights/);
  });
});
