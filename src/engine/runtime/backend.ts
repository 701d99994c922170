/**
 * Picks the TensorFlow.js backend at start (docs/model.md §3) and says which on stderr: WebGPU through
 * Dawn when it finds a hardware adapter, else WebAssembly (with the native OpenBLAS kernels when they
 * are built), else the pure-JS kernels. VCM_BACKEND forces one; `tensorflow` (tfjs-node with a
 * libtensorflow of one's own) is only ever an explicit choice, since its download is gone.
 */
import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { loadAppConfig, type AppConfig, type BackendChoice } from "../../config.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { disableNativeMatMul, enableNativeMatMul, nativeAddonLoads, nativeAddonProblem, nativeMatMulEnabled, nativeSparseEnabled } from "./native-kernels.ts";
import { enableGaussianKernels } from "./gaussian-terms.ts";
import { allowBf16Deletions, bf16DeletionsAvailable } from "./bf16-logits.ts";
import { enableHeapKernels } from "./heap-kernels.ts";
import { enableHeapTranspose } from "./heap-transpose.ts";
import { enableHeapSliceColumns } from "./heap-slice.ts";
import type { BackendName } from "../types.ts";
import { shareWasmIdentity } from "./wasm-identity.ts";
import { defaultWasmThreads, startThreadedWasm } from "./wasm-threads.ts";
import { explainMissingGpu, gpuWorthAsking, probeGpu } from "./gpu-probe.ts";
import { NO_GPU_IN_SIGHT, openWebGpu, type WebGpuAdapter, type WebGpuOpening } from "./webgpu.ts";

/** A memory bound of the backend training runs on. */
export interface TrainingMemoryLimit {
  /** Bytes training may hold in all. */
  readonly totalBytes: number;
  /** Bytes one tensor may take (a GPU's largest buffer), when smaller than the total. */
  readonly tensorBytes?: number;
  /** What the limit is, in words: "the WebAssembly heap". */
  readonly what: string;
}

/** The wasm backend's heap: 32-bit addresses, so 4 GiB whatever the machine has. */
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;

/** tfjs keeps its backend in process-wide state, so the record of what we chose lives at that level too. */
const state: {
  pending: Promise<BackendName> | undefined;
  choice: BackendChoice | "auto" | undefined;
  announced: Set<string>;
  nativeGpu: boolean;
  wasmPathsSet: boolean;
  adapter: WebGpuAdapter | undefined;
  /** Threads of the wasm build that started (1: the single-threaded one); 0 before wasm starts. */
  wasmThreads: number;
  /** Why the automatic choice last passed webgpu over, in words. */
  webgpuRefusal: string | undefined;
} = { pending: undefined, choice: undefined, announced: new Set(), nativeGpu: false, wasmPathsSet: false, adapter: undefined, wasmThreads: 0, webgpuRefusal: undefined };

/**
 * Initialises the backend once (later calls with the same choice return the same answer; an explicit
 * different choice switches). Without a choice, VCM_BACKEND decides, else the fastest that starts.
 */
export async function initBackend(choice?: BackendChoice): Promise<BackendName> {
  const app = loadAppConfig();
  const wanted = choice ?? app.backend ?? "auto";
  if (state.pending && (state.choice === wanted || (choice === undefined && state.choice !== undefined))) {
    return state.pending;
  }
  state.choice = wanted;
  state.pending = select(wanted, app);
  try {
    const name = await state.pending;
    // The optional OpenBLAS addon replaces wasm's matMul kernels when it is built (at npm ci, or npm run build:native).
    if (name === "wasm" && app.nativeMatMul && !enableNativeMatMul()) announceAddonProblem();
    if (name === "wasm" && !app.nativeMatMul) disableNativeMatMul();
    allowBf16Deletions(app.bf16Deletions);
    // Without the addon's, the sparse first layers and column sums run as SIMD functions on the heap (heap-kernels.ts).
    if (name === "wasm" && !nativeSparseEnabled()) enableHeapKernels();
    if (name === "wasm") enableHeapTranspose();
    if (name === "wasm") enableHeapSliceColumns();
    if (name === "wasm") enableGaussianKernels();
    if (name === "wasm") shareWasmIdentity();
    // The start line also says where explanations use AMX tiles (not part of currentDevice, which models store as where they trained).
    const label = `${name} (${currentDevice()}${name === "wasm" && bf16DeletionsAvailable() ? ", explanations' deletions on AMX bfloat16" : ""})`;
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

/** Says once why a built addon is not used (moved to a CPU it was not built for, a library missing). */
function announceAddonProblem(): void {
  const problem = nativeAddonProblem();
  if (problem === undefined || state.announced.has(problem)) return;
  state.announced.add(problem);
  process.stderr.write(`vcm: native OpenBLAS kernels not used: ${problem}; the engine runs the stock wasm kernels (npm run build:native rebuilds them for this machine)\n`);
}

/** Why the automatic choice passed webgpu over (the GPU's missing Vulkan pieces where the machine has one), or undefined. */
export function webgpuRefusal(): string | undefined {
  return state.webgpuRefusal;
}

/** The backend in use now, as stored with trained models. */
export function currentBackend(): BackendName {
  const name = tf.getBackend();
  if (name === "tensorflow") return state.nativeGpu ? "tensorflow-gpu" : "tensorflow";
  if (name === "webgpu" || name === "wasm" || name === "cpu") return name;
  return "cpu";
}

/**
 * The memory bound the engine's work (training, loading, evaluating, exporting) is planned against on
 * the current backend: VCM_MAX_MEMORY_MB when set, else this machine's available memory; on wasm at
 * most its heap (WASM_HEAP_BYTES); on webgpu also the adapter's largest buffer (maxBufferSize,
 * maxStorageBufferBindingSize) for one tensor.
 */
export function trainingMemoryLimit(): TrainingMemoryLimit {
  const name = currentBackend();
  const configured = loadAppConfig().maxMemoryMb;
  const machine =
    configured !== undefined
      ? { totalBytes: configured * 1024 ** 2, what: `VCM_MAX_MEMORY_MB (${configured.toLocaleString("en-US")} MiB)` }
      : { totalBytes: os.freemem(), what: "this machine's available memory" };
  if (name === "wasm" && WASM_HEAP_BYTES < machine.totalBytes) return { totalBytes: WASM_HEAP_BYTES, what: "the WebAssembly backend's heap" };
  if (name === "webgpu") {
    const limits = (tf.backend() as unknown as { device?: { limits?: { maxBufferSize?: number; maxStorageBufferBindingSize?: number } } }).device?.limits;
    const tensorBytes = Math.min(limits?.maxBufferSize ?? Infinity, limits?.maxStorageBufferBindingSize ?? Infinity);
    return { ...machine, ...(Number.isFinite(tensorBytes) ? { tensorBytes } : {}), what: configured !== undefined ? machine.what : "the GPU adapter" };
  }
  return machine;
}

/**
 * What runs the kernels, in words, as printed at start and stored with each model: the GPU adapter's
 * vendor and description on webgpu, whether OpenBLAS does the matMuls on wasm.
 */
export function currentDevice(): string {
  const name = currentBackend();
  if (name === "webgpu" && state.adapter) {
    const a = state.adapter;
    return `${[a.vendor, a.description || a.device || a.architecture].filter((s) => s).join(" ")}${a.fallback ? ", software adapter" : ""}`;
  }
  if (name === "wasm") {
    if (nativeMatMulEnabled()) return "WebAssembly SIMD, matMul, Adam, sparse layers and top-k through native OpenBLAS";
    return state.wasmThreads > 1 ? `WebAssembly SIMD, ${state.wasmThreads} threads` : "WebAssembly SIMD";
  }
  if (name === "cpu") return "JavaScript kernels";
  return state.nativeGpu ? "libtensorflow with CUDA" : "libtensorflow";
}

async function select(wanted: BackendChoice | "auto", app: AppConfig): Promise<BackendName> {
  if (wanted === "tensorflow") {
    if (await loadNative()) return currentBackend();
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      "VCM_BACKEND=tensorflow, but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed; they need a libtensorflow of your own (TFJS_NODE_BASE_URI), or choose webgpu, wasm or cpu",
    );
  }
  if (wanted === "webgpu" || wanted === "auto") {
    // One Dawn instance per process: a second one would run its own event loop beside the first.
    if (state.adapter && (wanted === "webgpu" || !state.adapter.fallback) && (await tf.setBackend("webgpu"))) return "webgpu";
    // Dawn is asked only when forced or where a GPU shows, so CPU machines start without its warnings.
    const asked = wanted === "webgpu" || gpuWorthAsking({ root: app.gpuProbeRoot });
    const opened = asked ? await openWebGpu({ flags: app.webgpuFlags, allowFallback: wanted === "webgpu" }) : NO_GPU_IN_SIGHT;
    if (opened.ok) {
      state.adapter = opened.adapter;
      return "webgpu";
    }
    const gpu = explainGpuTrouble(opened, app);
    // With a GPU to explain, its missing pieces replace the generic advice.
    const found = opened.failure === "software-only" ? "Dawn found only a software adapter" : "Dawn found no GPU adapter";
    const reason = gpu ? `${found}: ${gpu}` : opened.reason;
    if (wanted === "webgpu") throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_BACKEND=webgpu, but ${reason}; choose wasm or cpu`);
    state.webgpuRefusal = reason;
    if (gpu && !state.announced.has(gpu)) {
      state.announced.add(gpu);
      process.stderr.write(`vcm: webgpu not used, ${reason}; the engine runs on the CPU meanwhile\n`);
    }
  }
  if (wanted === "wasm" || wanted === "auto") {
    // The native kernels need the single-threaded build (its heap is a plain ArrayBuffer); without them,
    // tfjs's threaded build runs wasm's matMul on every core.
    const threads = app.nativeMatMul && nativeAddonLoads() ? 1 : (app.wasmThreads ?? defaultWasmThreads());
    if (await loadWasm(threads)) return "wasm";
    if (wanted === "wasm") {
      throw new UserError(ErrorCode.BAD_USER_INPUT, "VCM_BACKEND=wasm, but the WebAssembly backend could not start; choose cpu");
    }
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return "cpu";
}

/**
 * When webgpu found no hardware adapter on a machine that has a GPU, what in Vulkan's setup keeps it
 * out of reach (gpu-probe.ts); undefined where there is no GPU to miss, so CPU machines stay quiet.
 */
function explainGpuTrouble(opened: Extract<WebGpuOpening, { ok: false }>, app: AppConfig): string | undefined {
  if (opened.failure !== "no-adapter" && opened.failure !== "software-only") return undefined;
  return explainMissingGpu(probeGpu({ env: app.gpuEnvironment, root: app.gpuProbeRoot }));
}

/** Loads tfjs-node-gpu, else tfjs-node: never both, since each registers every kernel again. */
async function loadNative(): Promise<boolean> {
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
      return true;
    }
    return false;
  }
  return false;
}

/** Starts wasm once per process (the threaded build when threads > 1 and it starts, else the plain one). */
async function loadWasm(threads: number): Promise<boolean> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    if (!state.wasmPathsSet) {
      // In Node the .wasm files are read from node_modules, not fetched from a CDN.
      const require = createRequire(import.meta.url);
      const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
      wasm.setWasmPaths(`${dir}${path.sep}`);
      state.wasmPathsSet = true;
    }
    if (state.wasmThreads === 0 && threads > 1) {
      // Whatever stops the threaded build (no writable temporary folder, a changed tfjs) leaves the plain one.
      const started = await startThreadedWasm(wasm, threads).catch(() => 0);
      if (started > 0) {
        state.wasmThreads = started;
        return true;
      }
    }
    const started = await tf.setBackend("wasm");
    if (started && state.wasmThreads === 0) state.wasmThreads = 1;
    return started;
  } catch {
    return false;
  }
}
