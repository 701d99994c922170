/**
 * A quiet start: the real `vcm` bin prints the engine's one sentence about its backend and none of
 * Dawn's own lines (a Vulkan loader it could not open, limits it lowered for lavapipe), whether Dawn
 * is left alone (automatic choice, no GPU in sight) or asked (webgpu forced); `VCM_WEBGPU_FLAGS=verbose=1`
 * lets them through. Runs on a machine without Vulkan and on one with lavapipe alike.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm } from "./run-vcm.ts";

/** What Dawn itself writes: its `Warning:` lines and the source paths of its build in them. */
const DAWN_LINES = /^Warning: |artificially reduced|Couldn't load Vulkan|third_party\/dawn/m;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-quiet-"));
const { VCM_BACKEND: _backend, VCM_WEBGPU_FLAGS: _flags, VCM_GPU_PROBE_ROOT: _root, ...inherited } = process.env;
const env = { ...inherited, VCM_DB: path.join(dir, "quiet.sqlite"), VCM_MODELS_DIR: path.join(dir, "models") };
const train = ["train", "--dataset", "tiny", "--variant", "vcm", "--epochs", "1", "--latent-dim", "4", "--hidden-x", "8", "--hidden-y", "8", "--batch-size", "50", "--seed", "3", "--json"];

describe("the real bin starts without Dawn's lines", () => {
  beforeAll(() => {
    const generated = runVcm(["generate", "--dataset", "tiny", "--users", "100", "--items", "60", "--vocab", "120", "--json"], env);
    expect(generated.code, generated.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("says which backend it chose, once, and nothing of Dawn's, on the automatic choice", () => {
    const run = runVcm(train, env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.match(/^vcm: engine backend \w+ \(.+\)$/gm), run.stderr).toHaveLength(1);
    expect(run.stderr).not.toMatch(DAWN_LINES);
  });

  it("keeps Dawn's lines out when webgpu is forced, whether it starts (lavapipe) or is refused (no Vulkan)", () => {
    const run = runVcm(train, { ...env, VCM_BACKEND: "webgpu" });
    expect(run.stderr).not.toMatch(DAWN_LINES);
    if (run.code === 0) {
      expect(run.stderr.match(/^vcm: engine backend webgpu \(.+\)$/gm), run.stderr).toHaveLength(1);
    } else {
      expect(run.last.error).toMatchObject({ code: "BAD_USER_INPUT" });
      expect(run.last.error.message).toMatch(/^VCM_BACKEND=webgpu, but /);
    }
  });

  it("lets Dawn's own lines through with VCM_WEBGPU_FLAGS=verbose=1", () => {
    const run = runVcm(train, { ...env, VCM_BACKEND: "webgpu", VCM_WEBGPU_FLAGS: "verbose=1" });
    // Without Vulkan, Dawn warns that it could not load it; with an adapter, it also names it on stdout.
    expect(`${run.stderr}\n${run.stdout}`).toMatch(/^(Warning: .+|using GPU adapter: .+)$/m);
  });
});

describe("withNativeStderrMuted", () => {
  it("keeps what is written to descriptor 2 during the call out, and what comes after in", () => {
    const module = path.resolve("src", "engine", "runtime", "quiet-stderr.ts");
    const script = [
      `import fs from "node:fs";`,
      `import { withNativeStderrMuted } from ${JSON.stringify(module)};`,
      `const value = await withNativeStderrMuted(() => { fs.writeSync(2, "written to fd 2 inside\\n"); return 42; });`,
      `fs.writeSync(2, "written to fd 2 after\\n");`,
      `process.stderr.write("answered " + value + "\\n");`,
    ].join("\n");
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe("written to fd 2 after\nanswered 42\n");
  });
});
