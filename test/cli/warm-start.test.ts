/**
 * Warm start through the real bin and a real `vcm serve` process: `vcm train --from-model` and
 * startTraining(input: { fromModel }) continue a saved model (its shapes kept, β continuing, the
 * source recorded on the job and the model), also on the dataset grown by `vcm ingest --append`, and refuse an unknown model, a model of another
 * dataset, another variant or shape, a popularity model and a model whose checkpoint is gone.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, TEST_DIALECT, type TestDatabase } from "../db/databases.ts";
import { pollJob, serveProcess, type ServerProcess } from "../graphql/serve-process.ts";
import { runVcm, type VcmRun } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-cli-warm-"));
const modelsDir = path.join(dir, "models");
// 200 users / batch 50 = 4 steps an epoch; after 2 epochs β = min(0.4, 8 / 20) = 0.4.
const SMALL = ["--epochs", "2", "--latent-dim", "8", "--hidden-x", "32", "--hidden-y", "32", "--batch-size", "50", "--anneal-steps", "20"];
let database: TestDatabase;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

function vcm(args: string[]): VcmRun {
  return runVcm(args, env);
}

/** Model ids by what they are: 1 vcm on "tiny", 2 popularity on "tiny", 3 vcm on "other". */
beforeAll(async () => {
  database = await createTestDatabase();
  env = { ...process.env, VCM_DB: database.target, VCM_MODELS_DIR: modelsDir, VCM_BACKEND: "wasm", VCM_ADMIN_TOKEN: "", PORT: "" };
  expect(vcm(["generate", "--dataset", "tiny", "--users", "200", "--items", "150", "--vocab", "300", "--json"]).code).toBe(0);
  expect(vcm(["generate", "--dataset", "other", "--users", "100", "--items", "80", "--vocab", "200", "--json"]).code).toBe(0);
  expect(vcm(["train", "--dataset", "tiny", "--variant", "vcm", ...SMALL, "--json"]).last.modelId).toBe(1);
  expect(vcm(["train", "--dataset", "tiny", "--variant", "popularity", "--json"]).last.modelId).toBe(2);
  expect(vcm(["train", "--dataset", "other", "--variant", "vcm", ...SMALL, "--json"]).last.modelId).toBe(3);
}, 240_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await database?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("vcm train --from-model", () => {
  it("continues a saved model with its own settings, β continuing, and records where it came from", () => {
    const warm = vcm(["train", "--dataset", "tiny", "--from-model", "1", "--epochs", "2", "--json"]);
    expect(warm.code).toBe(0);
    expect(warm.last).toMatchObject({ modelId: 4, variant: "vcm", fromModel: 1, epochs: 2 });
    // β continues from model 1's best epoch (0.2 or 0.4) instead of starting again at 4 / 20 = 0.2.
    const firstBeta = Number(/epoch 1: .*β (\d\.\d{4})/.exec(warm.stderr)![1]);
    expect(firstBeta).toBeGreaterThan(0.2);
    const listed = vcm(["models", "--json"]).last.models as Array<Record<string, any>>;
    const row = listed.find((m) => m.id === 4)!;
    expect(row.fromModel).toBe(1);
    // Settings left out are model 1's, not the defaults (latentDim 100, hiddenX 600), but for a third of its learning rate.
    expect(row.config).toMatchObject({ latentDim: 8, hiddenX: 32, hiddenY: 32, batchSize: 50, annealSteps: 20, epochs: 2, learningRate: 0.001 / 3 });
    expect(listed.find((m) => m.id === 1)!.fromModel).toBeNull();
    const text = vcm(["train", "--dataset", "tiny", "--from-model", "4", "--epochs", "1", "--lr", "0.002"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^model 5: vcm on "tiny", continued from model 4, backend wasm/);
    // A learning rate given is taken as it is.
    expect((vcm(["models", "--json"]).last.models as Array<Record<string, any>>).find((m) => m.id === 5)!.config.learningRate).toBe(0.002);
  });

  it("refuses what it cannot continue, with the code and a sentence naming the cause", () => {
    const cases: Array<[string[], string, RegExp]> = [
      [["--from-model", "99"], "NOT_FOUND", /There is no model 99/],
      [["--from-model", "abc"], "BAD_USER_INPUT", /A model id is a positive integer/],
      [["--from-model", "1", "--latent-dim", "9"], "BAD_USER_INPUT", /LatentDim is 8 in model 1 but 9 was asked; a warm start keeps the weights' shapes/],
      [["--from-model", "1", "--hidden-x", "64"], "BAD_USER_INPUT", /HiddenX is 32 in model 1 but 64 was asked/],
      [["--from-model", "1", "--variant", "vcm-se"], "BAD_USER_INPUT", /Model 1 is a vcm model and a warm start continues the same variant; ask for variant vcm/],
      [["--from-model", "2"], "BAD_USER_INPUT", /Model 2 is a popularity model, which cannot be continued/],
      [["--from-model", "3"], "BAD_USER_INPUT", /Model 3 was trained on dataset "other"; a warm start continues on the model's own dataset/],
      [[], "BAD_USER_INPUT", /Give --variant .*or --from-model ID/],
    ];
    for (const [args, code, sentence] of cases) {
      const run = vcm(["train", "--dataset", "tiny", ...args, "--json"]);
      expect(run.code, args.join(" ")).toBe(1);
      expect(run.last.error?.code, args.join(" ")).toBe(code);
      expect(run.stderr).toMatch(sentence);
      expect(run.stderr).not.toMatch(/ at .*\.ts:\d+/);
    }
    // No model row was left behind by a refused run.
    expect((vcm(["models", "--json"]).last.models as unknown[]).length).toBe(5);
  });

  it("says so when the saved model's checkpoint is gone (SQLite); PostgreSQL reads the copy the database keeps", () => {
    fs.renameSync(path.join(modelsDir, "model-3"), path.join(dir, "model-3-away"));
    try {
      const run = vcm(["train", "--dataset", "other", "--from-model", "3", "--epochs", "1", "--json"]);
      if (TEST_DIALECT === "postgres") {
        expect(run.code, run.stderr).toBe(0);
        expect(run.last).toMatchObject({ fromModel: 3, epochs: 1 });
        expect(fs.existsSync(path.join(modelsDir, "model-3", "weights.bin"))).toBe(true);
        return;
      }
      expect(run.code).toBe(1);
      expect(run.last.error?.code).toBe("NOT_FOUND");
      expect(run.stderr).toMatch(/The checkpoint of model 3 does not exist/);
    } finally {
      // On PostgreSQL the run fetched the stored copy back into the models folder.
      if (fs.existsSync(path.join(modelsDir, "model-3"))) fs.rmSync(path.join(dir, "model-3-away"), { recursive: true });
      else fs.renameSync(path.join(dir, "model-3-away"), path.join(modelsDir, "model-3"));
    }
  });
});

describe("warm start after `vcm ingest --append`", () => {
  it("continues a model on the grown dataset: the appended items get rows, the model knows every item", () => {
    // Five new items clicked by ten known users and by three new users (each with five clicks).
    const lines: string[] = [];
    for (let u = 0; u < 10; u += 1) for (let i = 1; i <= 5; i += 1) lines.push(`u${String(u).padStart(5, "0")}\tfresh-${i}`);
    for (let u = 1; u <= 3; u += 1) for (let i = 1; i <= 5; i += 1) lines.push(`newcomer-${u}\tfresh-${i}`);
    const file = path.join(dir, "append.tsv");
    fs.writeFileSync(file, `${lines.join("\n")}\n`);
    const appended = vcm(["ingest", "--append", "--dataset", "tiny", "--format", "tsv", "--interactions", file, "--json"]);
    expect(appended.code, appended.stderr).toBe(0);
    expect(appended.last).toMatchObject({ itemsAdded: 5, usersAdded: 3, clicksAdded: 65, version: 2 });
    const warm = vcm(["train", "--dataset", "tiny", "--from-model", "1", "--epochs", "2", "--json"]);
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.last).toMatchObject({ fromModel: 1, epochs: 2 });
    const id = warm.last.modelId as number;
    const manifest = (id: number): { numItems: number } => JSON.parse(fs.readFileSync(path.join(modelsDir, `model-${id}`, "manifest.json"), "utf8"));
    expect(manifest(1).numItems).toBe(150);
    expect(manifest(id).numItems).toBe(155);
    // It is evaluated on the grown dataset's test split (the appended users' clicks are all training clicks, so 200 users).
    const evaluated = vcm(["evaluate", "--model", String(id), "--json"]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.last).toMatchObject({ modelId: id, mode: "vcm", users: 200 });
  });
});

describe("startTraining(input: { fromModel }) on a real server", () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await serveProcess(env, children);
  }, 120_000);

  const START = `mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id status fromModelId config } }`;

  it("trains the continued model in a job and records the source on the job and the model", async () => {
    const started = await server.gql(START, { input: { dataset: "tiny", variant: "VCM", fromModel: "1", hyperParameters: { epochs: 2 } } });
    expect(started.errors).toBeUndefined();
    const job = started.data.startTraining;
    expect(job.fromModelId).toBe("1");
    expect(job.config).toMatchObject({ latentDim: 8, hiddenX: 32, epochs: 2, learningRate: 0.001 / 3 });
    const done = await pollJob(server, job.id, (j) => j.status !== "QUEUED" && j.status !== "RUNNING");
    expect(done.error).toBeNull();
    expect(done.status).toBe("SUCCEEDED");
    const model = await server.gql(`query ($id: ID!) { model(id: $id) { id status fromModelId bestEpoch } }`, { id: done.model.id });
    expect(model.errors).toBeUndefined();
    expect(model.data.model).toMatchObject({ status: "READY", fromModelId: "1" });
    const scratch = await server.gql(`query { model(id: 1) { fromModelId } }`);
    expect(scratch.data.model.fromModelId).toBeNull();
  }, 120_000);

  it("answers bad input with its code and sentence, before any job is queued", async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ dataset: "tiny", variant: "VCM", fromModel: "99" }, "NOT_FOUND", /There is no model 99/],
      [{ dataset: "tiny", variant: "VCM", fromModel: "3" }, "BAD_USER_INPUT", /Model 3 was trained on dataset "other"/],
      [{ dataset: "tiny", variant: "VCM_NV", fromModel: "1" }, "BAD_USER_INPUT", /Model 1 is a vcm model and a warm start continues the same variant/],
      [{ dataset: "tiny", variant: "VCM", fromModel: "1", hyperParameters: { latentDim: 16 } }, "BAD_USER_INPUT", /^LatentDim is 8 in model 1 but 16 was asked/],
      [{ dataset: "tiny", variant: "POPULARITY", fromModel: "2" }, "BAD_USER_INPUT", /popularity model, which cannot be continued/],
      [{ dataset: "tiny", variant: "VCM", fromModel: "x" }, "BAD_USER_INPUT", /Model id "x" is not valid/],
    ];
    const before = (await server.gql(`{ trainingJobs(first: 100) { id } }`)).data.trainingJobs.length;
    for (const [input, code, sentence] of cases) {
      const answer = await server.gql(START, { input });
      expect(answer.errors?.[0]?.extensions?.code, JSON.stringify(input)).toBe(code);
      expect(answer.errors![0].message).toMatch(sentence);
    }
    expect((await server.gql(`{ trainingJobs(first: 100) { id } }`)).data.trainingJobs).toHaveLength(before);
  });
});
