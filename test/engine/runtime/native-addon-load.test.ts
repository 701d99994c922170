/**
 * The native addon is built with -march=native. Moved to a CPU without one of those instruction sets
 * (a checkout or image copied to an older machine), it must not kill the process with SIGILL at its
 * first kernel: it loads without kernels, and the engine keeps the stock ones and says why. The same
 * for an addon whose shared library has gone. These tests build such addons for real into a temporary
 * folder; without a C compiler and OpenBLAS they skip.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildNativeAddon } from "../../../scripts/build-native.ts";
import { nativeAddonLoads, nativeAddonProblem } from "../../../src/engine/runtime/native-kernels.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-native-load-"));
const cpuFlags = new Set(
  (fs.existsSync("/proc/cpuinfo") ? fs.readFileSync("/proc/cpuinfo", "utf8") : "")
    .split("\n")
    .find((l) => l.startsWith("flags"))
    ?.split(":")[1]
    .trim()
    .split(/\s+/) ?? [],
);
// An instruction set this CPU lacks, with the compiler flag that turns it on (AVX-512 on an AVX2 machine;
// Xeon Phi's AVX-512ER, which no other CPU has, on an AVX-512 one).
const lacking = process.arch !== "x64" ? undefined : [["avx512f", "-mavx512f"], ["avx512er", "-mavx512er"]].find(([flag]) => !cpuFlags.has(flag));

const good = path.join(dir, "good.node");
const goodBuild = buildNativeAddon(good);
const foreign = path.join(dir, "foreign.node");
const foreignBuild = lacking ? buildNativeAddon(foreign, [lacking[1]]) : { ok: false, message: "this CPU has every instruction set the test knows how to leave out" };
if (!goodBuild.ok) console.warn(`native addon loading tests skipped: ${goodBuild.message}`);
else if (!foreignBuild.ok) console.warn(`native addon built for another CPU: skipped (${foreignBuild.message})`);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!goodBuild.ok)("loading the native addon", () => {
  it("loads the addon built for this CPU, and says which instruction sets it was built for", () => {
    expect(nativeAddonLoads(good)).toBe(true);
    expect(nativeAddonProblem(good)).toBeUndefined();
    expect(goodBuild.message).toMatch(/for this CPU's .*\bsse4\.2\b/);
  });

  it.skipIf(!foreignBuild.ok)("keeps the stock kernels, with a sentence naming the instruction set, for an addon built for another CPU", () => {
    expect(foreignBuild.message).toContain(lacking![0]);
    expect(nativeAddonLoads(foreign)).toBe(false);
    expect(nativeAddonProblem(foreign)).toBe(`they were built for a CPU with ${lacking![0]}, which this one lacks`);
    // The real thing: the addon really holds instructions this CPU cannot run, so only the check stands between it and SIGILL.
    const run = spawnSync(process.execPath, ["-e", `const a = require(${JSON.stringify(foreign)}); process.stdout.write(a.missingCpuFeature + " " + typeof a.sgemm)`], { encoding: "utf8" });
    expect(run.signal).toBeNull();
    expect(run.stdout).toBe(`${lacking![0]} undefined`);
  });

  it("says which library is missing, without the addon's path, when the addon's shared library has gone", () => {
    const lib = path.join(dir, "libvcmgone.so");
    const source = path.join(dir, "gone.c");
    fs.writeFileSync(source, "int vcm_gone(void) { return 1; }\n");
    expect(spawnSync("cc", ["-shared", "-fPIC", source, "-o", lib]).status).toBe(0);
    const addon = path.join(dir, "needs-gone.node");
    fs.writeFileSync(source, "extern int vcm_gone(void);\nint vcm_uses(void) { return vcm_gone(); }\n");
    expect(spawnSync("cc", ["-shared", "-fPIC", source, `-L${dir}`, "-lvcmgone", "-Wl,--no-as-needed", "-o", addon]).status).toBe(0);
    fs.rmSync(lib);
    expect(nativeAddonLoads(addon)).toBe(false);
    const problem = nativeAddonProblem(addon);
    expect(problem).toBe("they do not load (libvcmgone.so: cannot open shared object file: No such file or directory)");
    expect(problem).not.toContain(dir);
  });
});
