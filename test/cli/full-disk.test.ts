/**
 * A full disk, for real: 2 MB tmpfs mounts (we run as root here and in CI; without root the suite is
 * skipped with a message) under the models folder and an export folder. Training is refused up front
 * with STORAGE_FULL and a sentence naming the folder and the space needed (CLI and API); an export that
 * runs out of space leaves no partial file and an older file of the same name untouched.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findModel } from "../../src/db/model-rows.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "../graphql/api-fixture.ts";
import { runVcm } from "./run-vcm.ts";

/** Mounts a 2 MB tmpfs on `dir`; the reason it could not, otherwise. */
function mountTmpfs(dir: string): string | undefined {
  fs.mkdirSync(dir, { recursive: true });
  const result = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir], { encoding: "utf8" });
  return result.status === 0 ? undefined : (result.stderr || result.error?.message || "mount failed").trim();
}

/** Fills the file system of `dir` until `leave` bytes are free. */
function fillUntil(dir: string, leave: number): void {
  const stats = fs.statfsSync(dir);
  fs.writeFileSync(path.join(dir, "filler"), Buffer.alloc(Math.max(0, stats.bavail * stats.bsize - leave)));
}

const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-full-probe-"));
const cannotMount = mountTmpfs(probeDir);
if (cannotMount === undefined) spawnSync("umount", [probeDir]);
fs.rmSync(probeDir, { recursive: true, force: true });
if (cannotMount !== undefined) console.warn(`The full-disk suite is skipped: a 2 MB tmpfs could not be mounted (${cannotMount}); it needs root.`);

describe.skipIf(cannotMount !== undefined)("a full disk", () => {
  let fixture: ApiFixture;
  let env: NodeJS.ProcessEnv;
  let modelsDir: string;
  let outDir: string;
  let modelId: number;
  const mounts: string[] = [];

  beforeAll(async () => {
    fixture = await createApiFixture({ adminToken: "t" });
    modelsDir = fixture.config.modelsDir;
    outDir = path.join(fixture.dir, "out");
    // A model to export, trained on a disk with room.
    const roomy = { ...process.env, VCM_DB: fixture.dbPath, VCM_MODELS_DIR: path.join(fixture.dir, "roomy-models"), VCM_BACKEND: "wasm" };
    const trained = runVcm(["train", "--dataset", TEST_DATASET, "--variant", "vcm", "--epochs", "1", "--latent-dim", "4", "--hidden-x", "16", "--hidden-y", "16", "--json"], roomy);
    expect(trained.code, trained.stderr).toBe(0);
    modelId = trained.last.modelId;
    for (const dir of [modelsDir, outDir]) {
      expect(mountTmpfs(dir)).toBeUndefined();
      mounts.push(dir);
    }
    env = { ...process.env, VCM_DB: fixture.dbPath, VCM_MODELS_DIR: modelsDir, VCM_BACKEND: "wasm" };
  }, 300_000);

  afterAll(async () => {
    for (const dir of mounts) spawnSync("umount", [dir]);
    await fixture?.close();
  });

  // About 120 items × 5,000 hidden units twice over: about 5 MiB of weights, more than the 2 MB disk.
  const BIG = ["--latent-dim", "4", "--hidden-x", "5000", "--hidden-y", "16", "--epochs", "1"];
  const SENTENCE = /^The models folder (\S+) is full \(it needs about 5\.\d MiB for this model's checkpoint, (1\.\d|2\.0) MiB free\); free some space \(or point it at a larger disk\) and try again\. Nothing partial was kept\.$/;

  it("vcm train: STORAGE_FULL up front, naming the folder and the space needed, never an internal error", () => {
    const run = runVcm(["train", "--dataset", TEST_DATASET, "--variant", "vcm", ...BIG, "--json"], env);
    expect(run.code).toBe(1);
    expect(run.stderr).not.toMatch(/internal error|ENOSPC/);
    expect(run.last.error.code).toBe("STORAGE_FULL");
    expect(run.last.error.message).toMatch(SENTENCE);
    expect(SENTENCE.exec(run.last.error.message)?.[1]).toBe(modelsDir);
    // Refused before any epoch and any row: nothing was trained and nothing is left on the disk.
    expect(run.stdout).not.toMatch(/epoch 1/);
    expect(fs.readdirSync(modelsDir)).toEqual([]);
    const models = runVcm(["models", "--json"], env);
    expect(models.stdout).not.toMatch(/"status":"(training|failed)"/);
  });

  it("startTraining: STORAGE_FULL with the same sentence, and no job queued", async () => {
    const jobs = async () => ((await fixture.server.execute({ query: "{ trainingJobs { id } }" })).data as any).trainingJobs.length;
    const before = await jobs();
    const result = await fixture.server.execute(
      {
        query: `mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`,
        variables: { input: { dataset: TEST_DATASET, variant: "VCM", hyperParameters: { latentDim: 4, hiddenX: 5000, hiddenY: 16, epochs: 1 } } },
      },
      { authorization: "Bearer t" },
    );
    expect(result.errors?.[0].extensions?.code).toBe("STORAGE_FULL");
    expect(result.errors?.[0].message).toMatch(SENTENCE);
    expect(await jobs()).toBe(before);
  });

  it("a disk that fills up while the checkpoint is saved: STORAGE_FULL naming the folder, the model failed with it, nothing left", async () => {
    const small = path.join(fixture.dir, "small-models");
    expect(mountTmpfs(small)).toBeUndefined();
    mounts.push(small);
    let modelRow: number | undefined;
    const error = await trainAndSave({
      dataSource: fixture.dataSource,
      dataset: TEST_DATASET,
      variant: "vcm",
      config: { latentDim: 4, hiddenX: 16, hiddenY: 16, epochs: 1, batchSize: 50 },
      modelsDir: small,
      // Another writer takes the space between the check before training and the save after it.
      onPhase: (phase, id) => {
        modelRow = id;
        if (phase === "saving") fillUntil(small, 0);
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ code: ErrorCode.STORAGE_FULL, message: `The models folder ${small} is full; free some space (or point it at a larger disk) and try again. Nothing partial was kept.` });
    expect(fs.readdirSync(small)).toEqual(["filler"]);
    expect(await findModel(fixture.dataSource, modelRow!)).toMatchObject({ status: "failed", error: (error as UserError).message });
  });

  it("vcm export: a disk that fills mid-export leaves no partial file, keeps the older file of that name, and says so", () => {
    const recbole = path.join(outDir, "recbole");
    fs.mkdirSync(recbole);
    const older = path.join(recbole, `${TEST_DATASET}.train.inter`);
    fs.writeFileSync(older, "an older export\n");
    const recs = path.join(outDir, "recs.csv");
    fs.writeFileSync(recs, "an older recs.csv\n");
    // Room for a few lines only.
    fillUntil(outDir, 8 * 1024);
    const before = { recbole: fs.readdirSync(recbole).sort(), out: fs.readdirSync(outDir).sort() };

    const dataset = runVcm(["export", "dataset", "--dataset", TEST_DATASET, "--format", "recbole", "--out", recbole, "--json"], env);
    expect(dataset.code).toBe(1);
    expect(dataset.last.error).toEqual({ code: "STORAGE_FULL", message: `The export folder ${recbole} is full; free some space (or point it at a larger disk) and try again. Nothing partial was kept.` });
    expect(fs.readdirSync(recbole).sort()).toEqual(before.recbole);
    expect(fs.readFileSync(older, "utf8")).toBe("an older export\n");

    const recommendations = runVcm(["export", "recommendations", "--model", String(modelId), "--k", "20", "--rule", "lift", "--out", recs, "--json"], env);
    expect(recommendations.code).toBe(1);
    expect(recommendations.last.error).toEqual({ code: "STORAGE_FULL", message: `The export folder ${outDir} is full; free some space (or point it at a larger disk) and try again. Nothing partial was kept.` });
    expect(fs.readdirSync(outDir).sort()).toEqual(before.out);
    expect(fs.readFileSync(recs, "utf8")).toBe("an older recs.csv\n");
  });
});
