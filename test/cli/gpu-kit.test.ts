/**
 * The GPU kit (scripts/gpu-kit/): packed for real into a temporary folder, then run as on a machine
 * without Node.js — run.sh unpacks the kit's own node and dawn.node and runs the bundled benchmark,
 * here on Mesa's lavapipe at a tiny shape. Skips with the reason when webgpu has no adapter here or
 * xz is missing.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WEBGPU_SKIP_REASON } from "../engine/webgpu-available.ts";

const root = path.resolve(import.meta.dirname, "..", "..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-gpu-kit-"));
const kit = path.join(dir, "kit");
const noXz = spawnSync("xz", ["--version"]).status === 0 ? undefined : "xz is not installed";
const skip = WEBGPU_SKIP_REASON ?? noXz;
if (noXz) console.warn(`GPU kit test skipped: ${noXz}`);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skip !== undefined)("the GPU kit", () => {
  it("packs node, the bundled bench and dawn.node, and trains on webgpu from the kit alone", () => {
    const pack = spawnSync(process.execPath, ["--import", "tsx", "scripts/gpu-kit/pack.ts", "--out", kit], { cwd: root, encoding: "utf8" });
    expect(pack.status, pack.stderr).toBe(0);
    expect(pack.stdout).toMatch(/gpu-kit: wrote .* MiB/);
    for (const file of ["bench.mjs", "node.xz", "node_modules/webgpu/index.js", "node_modules/webgpu/dist/linux-x64/dawn.node.xz"]) {
      expect(fs.existsSync(path.join(kit, file)), file).toBe(true);
    }
    // The kit must not lean on this checkout's node_modules: run.sh runs it from a copy under /tmp.
    expect(fs.existsSync(path.join(kit, "node_modules", "@tensorflow", "tfjs"))).toBe(false);
    const run = spawnSync(
      "bash",
      ["scripts/gpu-kit/run.sh", kit, "--", "--shape", "lastfm", "--users", "300", "--items", "200", "--vocab", "300", "--epochs", "2", "--only", "webgpu", "--webgpu-software", "--no-torch"],
      { cwd: root, encoding: "utf8", env: { ...process.env, OUT: "" }, timeout: 240_000 },
    );
    expect(run.status, run.stdout.slice(-2000)).toBe(0);
    expect(run.stdout).toMatch(/^# gpu-kit /m);
    // A webgpu row with its seconds per epoch, trained by the kit's node on the software adapter.
    expect(run.stdout).toMatch(/^webgpu \(.*software adapter\)\s+\d+\.\d+\s+\d+\.\d+/m);
    expect(run.stdout).toMatch(/webgpu \| epoch 2: \d+\.\d+ s training only/);
  }, 300_000);
});
