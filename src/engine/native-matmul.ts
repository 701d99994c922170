/**
 * Optional native matMul for the wasm backend (DESIGN.md §5): re-registers the wasm `BatchMatMul` and
 * `_FusedMatMul` kernels to call OpenBLAS's sgemm on the WebAssembly heap through a small N-API addon
 * (native/wasm_sgemm.c, built by `npm run build:native`). Cases it does not cover (other dtypes,
 * activations, general batch broadcasting) go to the stock kernels, and without the addon nothing changes.
 * It reads tfjs 4.22 internals (heap offsets, makeOutput), which is why tfjs is pinned exactly.
 */
import * as tf from "@tensorflow/tfjs";
import fs from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Where `npm run build:native` puts the addon. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL("../../native/build/wasm_sgemm.node", import.meta.url));

interface Addon {
  sgemm(
    heap: ArrayBuffer,
    transposeA: boolean,
    transposeB: boolean,
    ...dims: [m: number, n: number, k: number, aOff: number, bOff: number, cOff: number, biasOff: number, batch: number, sA: number, sB: number, sC: number]
  ): void;
}

interface WasmBackendInternals {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo | undefined>; backend: unknown; attrs?: Record<string, unknown> };

const KERNELS = ["BatchMatMul", "_FusedMatMul"] as const;

/** The kernel registry is process-wide, so the stock kernels we replaced are remembered at that level. */
const replaced = new Map<string, tf.KernelConfig>();

/** True while the native kernels are registered. */
export function nativeMatMulEnabled(): boolean {
  return replaced.size > 0;
}

/**
 * Registers the native kernels for the (already initialised) wasm backend when the addon is built and
 * loads; returns whether they are in use.
 */
export function enableNativeMatMul(addonPath: string = NATIVE_ADDON_PATH): boolean {
  if (replaced.size > 0) return true;
  if (!fs.existsSync(addonPath)) return false;
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(addonPath) as Addon;
  } catch {
    return false;
  }
  for (const name of KERNELS) {
    const stock = tf.getKernel(name, "wasm");
    if (!stock) return false;
    replaced.set(name, stock);
  }
  for (const name of KERNELS) {
    const stock = replaced.get(name)!;
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      kernelName: name,
      backendName: "wasm",
      // The stock setup binds the stock kernel's wasm function, which the fallback path calls.
      setupFunc: stock.setupFunc,
      kernelFunc: ((args: KernelArgs) => nativeMatMul({ args, addon, fused: name === "_FusedMatMul" }) ?? stock.kernelFunc(args as never)) as unknown as tf.KernelFunc,
    });
  }
  return true;
}

/** Puts the stock wasm kernels back (tests compare both). */
export function disableNativeMatMul(): void {
  for (const [name, stock] of replaced) {
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel(stock);
  }
  replaced.clear();
}

/** Runs one matMul natively, or returns undefined for the stock kernel to handle it. */
function nativeMatMul(o: { args: KernelArgs; addon: Addon; fused: boolean }): tf.TensorInfo | undefined {
  const { args, addon, fused } = o;
  const a = args.inputs.a;
  const b = args.inputs.b;
  const bias = fused ? args.inputs.bias : undefined;
  const attrs = args.attrs ?? {};
  const ta = Boolean(attrs.transposeA);
  const tb = Boolean(attrs.transposeB);
  if (!a || !b || a.dtype !== "float32" || b.dtype !== "float32") return undefined;
  if (fused && ((attrs.activation ?? "linear") !== "linear" || args.inputs.preluActivationWeights)) return undefined;
  if (a.shape.length < 2 || b.shape.length < 2) return undefined;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb || m === 0 || n === 0 || k === 0) return undefined;
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = tf.util.sizeFromShape(outer);
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  // Only "same batch" or "one side shared by all" broadcasting maps onto strided sgemm calls.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return undefined;
  if (bias && (bias.dtype !== "float32" || tf.util.sizeFromShape(bias.shape) !== n || bias.shape.length > 1 && bias.shape.slice(0, -1).some((d) => d !== 1))) {
    return undefined;
  }
  const backend = args.backend as WasmBackendInternals;
  const out = backend.makeOutput([...outer, m, n], "float32");
  const at = (t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset / 4;
  // The heap is read after makeOutput, whose allocation may have grown (and so replaced) it.
  addon.sgemm(
    backend.wasm.HEAPF32.buffer as ArrayBuffer,
    ta,
    tb,
    m,
    n,
    k,
    at(a),
    at(b),
    at(out),
    bias ? at(bias) : -1,
    batch,
    batchA === 1 ? 0 : m * k,
    batchB === 1 ? 0 : k * n,
    m * n,
  );
  return out;
}
