/**
 * Picks the TensorFlow.js backend at start (DESIGN.md §5): native libtensorflow on a GPU, native
 * on the CPU, WebAssembly, or the pure-JS kernels, in that order of speed, and says which on stderr.
 */
import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import path from "node:path";
import { loadAppConfig, type BackendChoice } from "../config.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { disableNativeMatMul, enableNativeMatMul, nativeMatMulEnabled } from "./native-matmul.ts";
import type { BackendName } from "./types.ts";

/** tfjs keeps its backend in process-wide state, so the record of what we chose lives at that level too. */
const state: {
  pending: Promise<BackendName> | undefined;
  choice: BackendChoice | "auto" | undefined;
  announced: Set<string>;
  nativeGpu: boolean;
  wasmPathsSet: boolean;
} = { pending: undefined, choice: undefined, announced: new Set(), nativeGpu: false, wasmPathsSet: false };

/**
 * Initialises the backend once (later calls with the same choice return the same answer; an explicit
 * different choice switches). Without a choice, VCM_BACKEND decides, else the fastest that loads.
 */
export async function initBackend(choice?: BackendChoice): Promise<BackendName> {
  const app = loadAppConfig();
  const wanted = choice ?? app.backend ?? "auto";
  if (state.pending && (state.choice === wanted || (choice === undefined && state.choice !== undefined))) {
    return state.pending;
  }
  state.choice = wanted;
  state.pending = select(wanted);
  try {
    const name = await state.pending;
    // The optional OpenBLAS addon replaces wasm's matMul kernels when it is built (npm run build:native).
    if (name === "wasm" && app.nativeMatMul) enableNativeMatMul();
    if (name === "wasm" && !app.nativeMatMul) disableNativeMatMul();
    const label = name === "wasm" && nativeMatMulEnabled() ? "wasm (matMul through native OpenBLAS)" : name;
    if (!state.announced.has(label)) {
      state.announced.add(label);
      process.stderr.write(`vcm: engine backend ${label}\n`);
    }
    return name;
  } catch (error) {
    state.pending = undefined;
    state.choice = undefined;
    throw error;
  }
}

/** The backend in use now, as stored with trained models. */
export function currentBackend(): BackendName {
  const name = tf.getBackend();
  if (name === "tensorflow") return state.nativeGpu ? "tensorflow-gpu" : "tensorflow";
  if (name === "wasm" || name === "cpu") return name;
  return "cpu";
}

async function select(wanted: BackendChoice | "auto"): Promise<BackendName> {
  if (wanted === "tensorflow" || wanted === "auto") {
    const native = await loadNative();
    if (native) return native;
    if (wanted === "tensorflow") {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        "VCM_BACKEND=tensorflow, but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed; install one or choose wasm or cpu",
      );
    }
  }
  if (wanted === "wasm" || wanted === "auto") {
    if (await loadWasm()) return "wasm";
    if (wanted === "wasm") {
      throw new UserError(ErrorCode.BAD_USER_INPUT, "VCM_BACKEND=wasm, but the WebAssembly backend could not start; choose cpu");
    }
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return "cpu";
}

/** Loads tfjs-node-gpu, else tfjs-node: never both, since each registers every kernel again. */
async function loadNative(): Promise<BackendName | undefined> {
  for (const [pkg, name] of [
    ["@tensorflow/tfjs-node-gpu", "tensorflow-gpu"],
    ["@tensorflow/tfjs-node", "tensorflow"],
  ] as const) {
    try {
      // A variable specifier keeps bundlers and tsc from requiring the optional package to exist.
      const specifier: string = pkg;
      await import(specifier);
    } catch {
      continue;
    }
    if (await tf.setBackend("tensorflow")) {
      state.nativeGpu = name === "tensorflow-gpu";
      return name;
    }
    return undefined;
  }
  return undefined;
}

async function loadWasm(): Promise<boolean> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    if (!state.wasmPathsSet) {
      // In Node the .wasm files are read from node_modules, not fetched from a CDN.
      const require = createRequire(import.meta.url);
      const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
      wasm.setWasmPaths(`${dir}${path.sep}`);
      state.wasmPathsSet = true;
    }
    return await tf.setBackend("wasm");
  } catch {
    return false;
  }
}
