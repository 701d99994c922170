/**
 * Builds the optional native matMul addon (native/*.c → native/build/wasm_sgemm.node):
 * needs a C compiler, Node's headers and Debian's libopenblas-dev (apt-get install -y libopenblas-dev).
 * Without it the engine runs the stock wasm kernels; with it, wasm matMuls go through OpenBLAS.
 *
 *   npm run build:native
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(import.meta.dirname, "..");

/**
 * Compiles the addon to `output`; returns an error sentence instead of throwing when a tool is missing.
 * `extraFlags` go to the compiler after the others (the tests build for a CPU this one is not).
 */
export function buildNativeAddon(
  output: string = path.join(root, "native", "build", "wasm_sgemm.node"),
  extraFlags: ReadonlyArray<string> = [],
): { ok: boolean; message: string } {
  const sources = ["wasm_sgemm.c", "bf16_logits.c", "softmax_mean.c"].map((file) => path.join(root, "native", file));
  const headers = [path.resolve(path.dirname(process.execPath), "..", "include", "node"), "/usr/include/node"].find((d) =>
    fs.existsSync(path.join(d, "node_api.h")),
  );
  if (!headers) return { ok: false, message: "Node's headers (node_api.h) were not found next to this node binary or in /usr/include/node" };
  const openblasIncludes = ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/aarch64-linux-gnu/openblas-pthread", "/usr/include/openblas"].filter((d) =>
    fs.existsSync(path.join(d, "cblas.h")),
  );
  if (openblasIncludes.length === 0) return { ok: false, message: "OpenBLAS headers were not found; apt-get install -y libopenblas-dev" };
  fs.mkdirSync(path.dirname(output), { recursive: true });
  // -march=native: the addon is built for the CPU it is installed on. On a CPU without one of its
  // instruction sets it loads without its kernels and the engine says so (native-kernels.ts).
  const args = ["-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-shared", "-fPIC", "-DNODE_GYP_MODULE_NAME=wasm_sgemm", ...extraFlags, `-I${headers}`, ...openblasIncludes.map((d) => `-I${d}`), ...sources, "-lopenblas", "-o", output];
  // glibc's vector tanhf and expf (libmvec) on x86-64; where the C library has none, the scalar ones.
  let result = process.arch === "x64" ? spawnSync("cc", [...args, "-lmvec"], { encoding: "utf8" }) : undefined;
  if (result === undefined || result.status !== 0) result = spawnSync("cc", [...args, "-DVCM_NO_VECTOR_TANH"], { encoding: "utf8" });
  if (result.status !== 0) {
    return { ok: false, message: `cc failed (install build-essential and libopenblas-dev): ${result.error?.message ?? result.stderr.trim()}` };
  }
  return { ok: true, message: `wrote ${path.relative(root, output)}${describeBuild(output)}` };
}

/** ", for this CPU's avx avx2 fma …": what -march=native gave the compiler, as the addon reports it. */
function describeBuild(output: string): string {
  try {
    const built = createRequire(import.meta.url)(output) as { compiledFor?: string };
    return built.compiledFor ? `, for this CPU's ${built.compiledFor}` : "";
  } catch {
    return "";
  }
}

// Runs only as a script, so tests can import buildNativeAddon (and not when bundled into another
// script, the GPU kit's bench.mjs, whose import.meta.url is the bundle's). With --install (npm ci's
// postinstall) it never fails the install: it prints one line saying which path was built, or why not.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] && self.endsWith("build-native.ts") && path.resolve(process.argv[1]) === self) {
  const install = process.argv.includes("--install");
  let result: { ok: boolean; message: string };
  try {
    result = buildNativeAddon();
  } catch (error) {
    result = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  if (result.ok) {
    console.log(`vcm: native OpenBLAS kernels built (${result.message}); the wasm backend uses them for matMul, Adam, the sparse first layers, the multinomial likelihood, tanh, exp, top-k and the explanations' softmax mean and, on a CPU with AMX, deletion products (VCM_NATIVE_MATMUL=off disables them)`);
  } else if (install) {
    console.log(`vcm: native OpenBLAS kernels not built (${result.message}); the engine runs the stock wasm kernels`);
  } else {
    console.error(`build:native: ${result.message}`);
    process.exit(1);
  }
}
