/**
 * `VCM_BACKEND=webgpu npx vcm train …` through the real bin trains on whatever adapter Dawn has (Mesa's
 * lavapipe in CI), records the backend and the adapter, and the model answers the queries a model
 * trained on wasm from the same seed answers: the same test metrics within float tolerance, on
 * wasm as on webgpu. Skips with the reason only where no webgpu adapter can be created at all.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEBGPU_SKIP_REASON } from "../engine/webgpu-available.ts";
import { runVcm, type VcmRun } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-cli-webgpu-"));
const base = { ...process.env, VCM_DB: path.join(dir, "cli.sqlite"), VCM_MODELS_DIR: path.join(dir, "models") };
const SMALL = ["--epochs", "2", "--latent-dim", "8", "--hidden-x", "32", "--hidden-y", "32", "--batch-size", "50", "--anneal-steps", "20", "--seed", "4"];

function vcm(args: string[], backend: string): VcmRun {
  return runVcm(args, { ...base, VCM_BACKEND: backend });
}

describe.skipIf(WEBGPU_SKIP_REASON !== undefined)("vcm train on webgpu through the real bin", () => {
  let gpu: VcmRun;
  let cpu: VcmRun;

  beforeAll(() => {
    expect(vcm(["generate", "--dataset", "tiny", "--users", "200", "--items", "150", "--vocab", "300", "--json"], "wasm").code).toBe(0);
    gpu = vcm(["train", "--dataset", "tiny", "--variant", "vcm", ...SMALL, "--json"], "webgpu");
    cpu = vcm(["train", "--dataset", "tiny", "--variant", "vcm", ...SMALL, "--json"], "wasm");
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("trains on the adapter, says which at start, and stores it with the model", () => {
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(gpu.stderr).toMatch(/vcm: engine backend webgpu \(.+\)/);
    expect(gpu.last).toMatchObject({ modelId: 1, variant: "vcm", backend: "webgpu", epochs: 2 });
    expect(gpu.last.device).toMatch(/\S/);
    const models = vcm(["models", "--json"], "wasm");
    expect(models.last.models.find((m: { id: number }) => m.id === 1)).toMatchObject({ backend: "webgpu", device: gpu.last.device });
  });

  it("gives the test metrics of the same model trained on wasm, and the same again when loaded on wasm", () => {
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(cpu.last.backend).toBe("wasm");
    for (const key of Object.keys(cpu.last.metrics)) {
      expect(gpu.last.metrics[key], key).toBeCloseTo(cpu.last.metrics[key], 2);
      expect(gpu.last.metricsCd[key], `vcm-cd ${key}`).toBeCloseTo(cpu.last.metricsCd[key], 2);
    }
    // The webgpu-trained checkpoint evaluated on wasm reproduces what webgpu measured after training.
    const onWasm = vcm(["evaluate", "--model", "1", "--json"], "wasm");
    expect(onWasm.code, onWasm.stderr).toBe(0);
    for (const key of Object.keys(gpu.last.metrics)) expect(onWasm.last.metrics[key], key).toBeCloseTo(gpu.last.metrics[key], 4);
  });
});
