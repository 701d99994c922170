/**
 * Optional native kernels for the wasm backend (docs/model.md §3), through a small N-API addon
 * (native/wasm_sgemm.c, built by npm ci when OpenBLAS is installed, or `npm run build:native`) that works
 * on the WebAssembly heap: the wasm `BatchMatMul`, `_FusedMatMul`, `Tanh` and `Exp` kernels re-registered to
 * OpenBLAS's sgemm and libm, kernels of our own for the sparse first layers and evaluation's top-k,
 * and the fused Adam (adam.ts). Cases they do not cover (other dtypes, activations, general batch
 * broadcasting) go to the stock kernels, and without the addon nothing changes. They read tfjs 4.22
 * internals (heap offsets, makeOutput), which is why tfjs is pinned exactly.
 */
import * as tf from "@tensorflow/tfjs";
import fs from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Where `npm run build:native` puts the addon. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL("../../../native/build/wasm_sgemm.node", import.meta.url));

interface Addon {
  /** One fused Adam pass over n floats at float offsets of the heap (native/wasm_sgemm.c). */
  adam?(heap: ArrayBuffer, pIn: number, pOut: number, g: number, m: number, v: number, n: number, b1: number, b2: number, lr: number, eps: number): void;
  /** S · W + b for sparse rows S (native/wasm_sgemm.c sparseLinear; float or int32 offsets). */
  sparseLinear?(heap: ArrayBuffer, ...args: [rows: number, h: number, nnz: number, n: number, idx: number, seg: number, vals: number, rowScale: number, w: number, bias: number, out: number]): void;
  /** dW = Sᵀ · dY as a dense n × h matrix, from S's entries in column order (SparseCall's colptr, colRow, colVal). */
  sparseLinearGradByColumn?(heap: ArrayBuffer, ...args: [rows: number, h: number, nnz: number, n: number, colptr: number, colRow: number, colVal: number, dy: number, dw: number]): void;
  /** y = tanh(x) over n floats (native/wasm_sgemm.c tanh). */
  tanh?(heap: ArrayBuffer, x: number, y: number, n: number): void;
  /** y = exp(x) over n floats (native/wasm_sgemm.c exp). */
  exp?(heap: ArrayBuffer, x: number, y: number, n: number): void;
  /** softmax and the multinomial loss per row in one pass (native/wasm_sgemm.c multinomialNll); float offsets. */
  multinomialNll?(heap: ArrayBuffer, ...args: [rows: number, cols: number, nnz: number, logits: number, pos: number, vals: number, rowSum: number, p: number, loss: number]): void;
  /** Its gradient with respect to the logits. */
  multinomialNllGrad?(heap: ArrayBuffer, ...args: [rows: number, cols: number, nnz: number, p: number, pos: number, vals: number, rowSum: number, grad: number, dy: number]): void;
  /** The k best columns of each row, skipping excluded ones (native/wasm_sgemm.c topk). */
  topk?(heap: ArrayBuffer, ...args: [rows: number, cols: number, k: number, scores: number, exIndptr: number, exIdx: number, out: number]): void;
  /** out_r = Σ_j softmax(h_r · W + b)_j W[:, j] in one read of W (native/softmax_mean.c); float offsets. */
  softmaxMean?(heap: ArrayBuffer, ...args: [m: number, k: number, n: number, h: number, w: number, b: number, out: number]): void;
  /** Whether this CPU and kernel offer AMX bfloat16 tiles to this process (native/bf16_logits.c). */
  amxBf16?(): boolean;
  /** Bytes of one packed part of a k × n layer. */
  packedBf16Bytes?(k: number, n: number): number;
  /** W (k × n floats at float offset wOff) as bfloat16 tiles: hi = bf16(W), lo = bf16(W − hi). */
  packBf16?(heap: ArrayBuffer, wOff: number, k: number, n: number, hi: ArrayBuffer, lo: ArrayBuffer): void;
  /** Log-softmax reads of rows given as changes from whole rows (native/bf16_logits.c deltaLogSoftmax). */
  deltaLogSoftmax?(
    heap: ArrayBuffer,
    hi: ArrayBuffer,
    lo: ArrayBuffer,
    base: Int32Array,
    readRows: Int32Array,
    readItems: Int32Array,
    picked: Float32Array,
    lse: Float32Array,
    ...dims: [m: number, k: number, n: number, hOff: number, biasOff: number]
  ): void;
  sgemm(
    heap: ArrayBuffer,
    transposeA: boolean,
    transposeB: boolean,
    ...dims: [m: number, n: number, k: number, aOff: number, bOff: number, cOff: number, biasOff: number, batch: number, sA: number, sB: number, sC: number]
  ): void;
}

/** The parts of tfjs's wasm backend our kernels use (tfjs 4.22 internals). */
export interface WasmBackendInternals {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32" | "int32"): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

export type KernelArgs = { inputs: Record<string, tf.TensorInfo | undefined>; backend: unknown; attrs?: Record<string, unknown> };

/** Registers one of our own kernels for wasm, replacing the one of that name registered before (the addon's or heap-kernels.ts's). */
export function registerOwnKernel(name: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]): void {
  if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** A tensor's position on the wasm heap in 4-byte words (the float and int32 offsets the addon takes). */
export function floatOffset(backend: WasmBackendInternals, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset / 4;
}

const KERNELS = ["BatchMatMul", "_FusedMatMul", "Tanh", "Exp"] as const;

/** Kernels of our own (no stock counterpart), run through tf.engine().runKernel by ops.ts. */
export const SPARSE_LINEAR_KERNEL = "VcmSparseLinear";
export const SPARSE_LINEAR_GRAD_KERNEL = "VcmSparseLinearGrad";
/** scores (rows × cols), indptr (rows + 1, int32), excluded (int32) → int32 rows × attrs.k, −1 padded. */
export const TOP_K_KERNEL = "VcmTopK";
/** logits (rows × cols), positions (nnz × 2, int32), vals (nnz), rowSum (rows) → [loss (rows), softmax (rows × cols)]. */
export const NLL_KERNEL = "VcmMultinomialNll";
/** p (rows × cols), positions, vals, rowSum, dy (rows) → the gradient of Σ dy · loss for the logits. */
export const NLL_GRAD_KERNEL = "VcmMultinomialNllGrad";
/** h (m × k), w (k × n), b (n) → m × k: each row's softmax(h · w + b) mean of w's columns. */
export const SOFTMAX_MEAN_KERNEL = "VcmSoftmaxMean";
const OWN_KERNELS = [SPARSE_LINEAR_KERNEL, SPARSE_LINEAR_GRAD_KERNEL, TOP_K_KERNEL, NLL_KERNEL, NLL_GRAD_KERNEL, SOFTMAX_MEAN_KERNEL] as const;

/** The kernel registry is process-wide, so the stock kernels we replaced (and the addon) are remembered at that level. */
const replaced = new Map<string, tf.KernelConfig>();
const loaded: { addon: Addon | undefined } = { addon: undefined };

/** Float offsets on the wasm heap for the native Adam, or undefined when the native kernels are off. */
export type NativeAdam = (o: { pIn: number; pOut: number; g: number; m: number; v: number; n: number; b1: number; b2: number; lr: number; eps: number }) => void;

/** True while the native top-k kernel is registered and wasm is in use. */
export function nativeTopKEnabled(): boolean {
  return nativeMatMulEnabled() && tf.getKernel(TOP_K_KERNEL, "wasm") !== undefined;
}

/** True while the native multinomial likelihood kernels are registered (an older addon lacks them). */
export function nativeNllEnabled(): boolean {
  return nativeMatMulEnabled() && tf.getKernel(NLL_KERNEL, "wasm") !== undefined;
}

/** True while the native softmax-mean kernel is registered (an older addon lacks it). */
export function nativeSoftmaxMeanEnabled(): boolean {
  return nativeMatMulEnabled() && tf.getKernel(SOFTMAX_MEAN_KERNEL, "wasm") !== undefined;
}

/** True while the native sparse first-layer kernels are registered (an older addon lacks them). */
export function nativeSparseEnabled(): boolean {
  return nativeMatMulEnabled() && tf.getKernel(SPARSE_LINEAR_KERNEL, "wasm") !== undefined;
}

/** The addon's fused Adam while the native kernels are enabled (an addon built before it had one: undefined). */
export function nativeAdam(): NativeAdam | undefined {
  const addon = loaded.addon;
  if (!nativeMatMulEnabled() || !addon?.adam) return undefined;
  const adam = addon.adam.bind(addon);
  const backend = tf.backend() as unknown as WasmBackendInternals;
  // The heap is read at each call: a heap growth since the last one replaces the buffer.
  return (o) => adam(backend.wasm.HEAPF32.buffer as ArrayBuffer, o.pIn, o.pOut, o.g, o.m, o.v, o.n, o.b1, o.b2, o.lr, o.eps);
}

/** The addon's AMX bfloat16 kernels (bf16-logits.ts), while the native kernels are in use and this CPU and kernel offer the tiles. */
export interface Bf16Kernels {
  packedBytes(k: number, n: number): number;
  pack(wOff: number, k: number, n: number, hi: ArrayBuffer, lo: ArrayBuffer): void;
  deltaLogSoftmax(o: {
    hi: ArrayBuffer;
    lo: ArrayBuffer;
    base: Int32Array;
    readRows: Int32Array;
    readItems: Int32Array;
    picked: Float32Array;
    lse: Float32Array;
    m: number;
    k: number;
    n: number;
    hOff: number;
    biasOff: number;
  }): void;
}

/** Bf16Kernels, or undefined where the addon lacks them, the native kernels are off or the CPU has no AMX bfloat16. */
export function nativeBf16Kernels(): Bf16Kernels | undefined {
  const addon = loaded.addon;
  if (!nativeMatMulEnabled() || !addon?.amxBf16 || !addon.packedBf16Bytes || !addon.packBf16 || !addon.deltaLogSoftmax || !addon.amxBf16()) return undefined;
  const { packedBf16Bytes, packBf16, deltaLogSoftmax } = addon;
  // The heap is read at each call: a heap growth since the last one replaces the buffer.
  const heap = (): ArrayBuffer => (tf.backend() as unknown as WasmBackendInternals).wasm.HEAPF32.buffer as ArrayBuffer;
  return {
    packedBytes: (k, n) => packedBf16Bytes.call(addon, k, n),
    pack: (wOff, k, n, hi, lo) => packBf16.call(addon, heap(), wOff, k, n, hi, lo),
    deltaLogSoftmax: (o) => deltaLogSoftmax.call(addon, heap(), o.hi, o.lo, o.base, o.readRows, o.readItems, o.picked, o.lse, o.m, o.k, o.n, o.hOff, o.biasOff),
  };
}

/** True while the native kernels are registered and wasm is the backend in use. */
export function nativeMatMulEnabled(): boolean {
  return replaced.size > 0 && tf.getBackend() === "wasm";
}

/**
 * Registers the native kernels for the (already initialised) wasm backend when the addon is built and
 * loads; returns whether they are in use.
 */
export function enableNativeMatMul(addonPath: string = NATIVE_ADDON_PATH): boolean {
  if (replaced.size > 0) return true;
  // The threaded wasm build's heap is a SharedArrayBuffer, which the addon cannot take (wasm-threads.ts).
  if ((tf.backend() as unknown as WasmBackendInternals).wasm?.HEAPF32.buffer instanceof SharedArrayBuffer) return false;
  const addon = loadAddon(addonPath);
  if (!addon) return false;
  for (const name of KERNELS) {
    const stock = tf.getKernel(name, "wasm");
    if (!stock) return false;
    replaced.set(name, stock);
  }
  loaded.addon = addon;
  if (addon.sparseLinear && addon.sparseLinearGradByColumn) registerAddonSparseKernels(addon);
  if (addon.topk) registerTopK(addon);
  if (addon.multinomialNll && addon.multinomialNllGrad) registerNll(addon);
  if (addon.softmaxMean) registerSoftmaxMean(addon);
  for (const name of KERNELS) {
    const stock = replaced.get(name)!;
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      kernelName: name,
      backendName: "wasm",
      // The stock setup binds the stock kernel's wasm function, which the fallback path calls.
      setupFunc: stock.setupFunc,
      kernelFunc: ((args: KernelArgs) =>
        (name === "Tanh" || name === "Exp" ? nativeUnary({ args, run: name === "Tanh" ? addon.tanh : addon.exp }) : nativeMatMul({ args, addon, fused: name === "_FusedMatMul" })) ??
        stock.kernelFunc(args as never)) as unknown as tf.KernelFunc,
    });
  }
  return true;
}

/** Whether the addon at addonPath is built and loads (backend.ts then starts the single-threaded wasm build for it). */
export function nativeAddonLoads(addonPath: string = NATIVE_ADDON_PATH): boolean {
  return loadAddon(addonPath) !== undefined;
}

/** Addons loaded so far, by path; a failed load is tried again next time (the bench retries while a build writes the file). */
const addons = new Map<string, Addon>();
/** Why the addon at a path did not load, the last time it was tried. */
const problems = new Map<string, string>();

/** What native/wasm_sgemm.c's init exports besides the kernels. */
interface AddonBuild {
  /** The instruction-set extensions the addon was compiled for (-march=native on the machine that built it). */
  compiledFor?: string;
  /** The first of them this CPU lacks; the addon then exports no kernels. */
  missingCpuFeature?: string;
}

function loadAddon(addonPath: string): Addon | undefined {
  const known = addons.get(addonPath);
  if (known) return known;
  problems.delete(addonPath);
  if (!fs.existsSync(addonPath)) return undefined;
  // libgomp and OpenBLAS read these when the addon loads: idle threads of either sleep soon instead of
  // spinning, so neither takes a core from the other between kernels (measured at the Yelp shape: a
  // validation pass 1.3 s → 0.9 s, the top-k kernel 34 → 16 ms per 512 users). Set either to override.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = "PASSIVE";
  if (process.env.OPENBLAS_THREAD_TIMEOUT === undefined) process.env.OPENBLAS_THREAD_TIMEOUT = "4";
  let addon: Addon & AddonBuild;
  try {
    addon = createRequire(import.meta.url)(addonPath) as Addon & AddonBuild;
  } catch (error) {
    // dlopen's message starts with the addon's own path; what follows names the missing library.
    const reason = (error instanceof Error ? error.message : String(error)).split(`${addonPath}: `).join("").split("\n")[0];
    problems.set(addonPath, `they do not load (${reason})`);
    return undefined;
  }
  if (addon.missingCpuFeature) {
    problems.set(addonPath, `they were built for a CPU with ${addon.missingCpuFeature}, which this one lacks`);
    return undefined;
  }
  addons.set(addonPath, addon);
  return addon;
}

/**
 * Why the built addon is not in use, as the end of a sentence ("they were built for a CPU with
 * avx512f, which this one lacks"), or undefined when it loads or was never built.
 */
export function nativeAddonProblem(addonPath: string = NATIVE_ADDON_PATH): string | undefined {
  loadAddon(addonPath);
  return problems.get(addonPath);
}

/** Puts the stock wasm kernels back (tests compare both). */
export function disableNativeMatMul(): void {
  for (const [name, stock] of replaced) {
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel(stock);
  }
  replaced.clear();
  loaded.addon = undefined;
  for (const name of OWN_KERNELS) if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
}

function registerTopK(addon: Addon): void {
  registerOwnKernel(TOP_K_KERNEL, (args) => {
    const { scores, indptr, excluded } = args.inputs as Record<string, tf.TensorInfo>;
    const k = (args.attrs as { k: number }).k;
    const backend = args.backend as WasmBackendInternals;
    const [rows, cols] = scores.shape;
    const out = backend.makeOutput([rows, k], "int32");
    const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
    // An empty exclusion list has no heap memory of its own; any valid offset serves, it is never read.
    const ex = excluded.shape[0] === 0 ? at(indptr) : at(excluded);
    addon.topk!(backend.wasm.HEAPF32.buffer as ArrayBuffer, rows, cols, k, at(scores), at(indptr), ex, at(out));
    return out;
  });
}

function registerSoftmaxMean(addon: Addon): void {
  registerOwnKernel(SOFTMAX_MEAN_KERNEL, (args) => {
    const { h, w, b } = args.inputs as Record<string, tf.TensorInfo>;
    const backend = args.backend as WasmBackendInternals;
    const [m, k] = h.shape;
    const n = w.shape[1];
    const out = backend.makeOutput([m, k], "float32");
    const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
    // The heap is read after makeOutput, whose allocation may have grown (and so replaced) it.
    addon.softmaxMean!(backend.wasm.HEAPF32.buffer as ArrayBuffer, m, k, n, at(h), at(w), at(b), at(out));
    return out;
  });
}

function registerNll(addon: Addon): void {
  const kernel = (args: KernelArgs, grad: boolean): tf.TensorInfo | tf.TensorInfo[] => {
    const { logits, p, positions, vals, rowSum, dy } = args.inputs as Record<string, tf.TensorInfo>;
    const backend = args.backend as WasmBackendInternals;
    const [rows, cols] = (grad ? p : logits).shape;
    const nnz = positions.shape[0];
    const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
    const out = backend.makeOutput([rows, cols], "float32");
    const loss = grad ? undefined : backend.makeOutput([rows], "float32");
    // Empty target lists have no heap memory of their own; any valid offset serves, they are not read.
    const [posAt, valsAt] = nnz === 0 ? [at(rowSum), at(rowSum)] : [at(positions), at(vals)];
    // The heap is read after makeOutput, whose allocation may have grown (and so replaced) it.
    const heap = backend.wasm.HEAPF32.buffer as ArrayBuffer;
    if (grad) {
      addon.multinomialNllGrad!(heap, rows, cols, nnz, at(p), posAt, valsAt, at(rowSum), at(out), at(dy));
      return out;
    }
    addon.multinomialNll!(heap, rows, cols, nnz, at(logits), posAt, valsAt, at(rowSum), at(out), at(loss!));
    return [loss!, out];
  };
  for (const [name, grad] of [[NLL_KERNEL, false], [NLL_GRAD_KERNEL, true]] as const) registerOwnKernel(name, (args) => kernel(args, grad));
}

/** Heap offsets in 4-byte words of one sparse-layer call; vals or rowScale is −1 (whichever the batch lacks). */
export interface SparseCall {
  readonly rows: number;
  readonly h: number;
  readonly nnz: number;
  readonly n: number;
  readonly idx: number;
  readonly seg: number;
  readonly vals: number;
  readonly rowScale: number;
  /** Forward: W (n × h), bias (h) and out (rows × h); gradient: dY (rows × h) and dW (n × h). */
  readonly w: number;
  readonly bias: number;
  readonly out: number;
  readonly dy: number;
  readonly dw: number;
  /**
   * Gradient only (−1 forward): the entries in column order, as sortByColumn leaves them on a scratch
   * tensor: column c's entries are colptr[c] .. colptr[c+1] (int32, n + 1), each with its row
   * colRow[q] (int32) and value colVal[q] (float32, vals or rowScale already applied).
   */
  readonly colptr: number;
  readonly colRow: number;
  readonly colVal: number;
}

/**
 * Counting sort of a sparse call's entries by column, into its colptr, colRow and colVal (heap offsets
 * in words; n + 1, nnz and nnz long). With them the gradient writes each row of dW once, in
 * order, where entry order (rows ascending) adds into random rows of a matrix zeroed first: the words
 * layer at the Yelp shape (n = 10,000, 38,400 entries) went from 17 to 3.4 ms natively. Throws a
 * RangeError for a column or row out of range, before anything is written through them.
 */
export function sortByColumn(heap: ArrayBuffer, c: SparseCall): void {
  const i32 = new Int32Array(heap);
  const f32 = new Float32Array(heap);
  const { n, nnz, rows } = c;
  const colptr = i32.subarray(c.colptr, c.colptr + n + 1);
  colptr.fill(0);
  for (let k = 0; k < nnz; k += 1) {
    const col = i32[c.idx + k]!;
    const row = i32[c.seg + k]!;
    if (!(col >= 0 && col < n && row >= 0 && row < rows)) throw new RangeError(`sparse layer: entry ${k} at row ${row}, column ${col} is outside ${rows} × ${n}`);
    colptr[col + 1]! += 1;
  }
  for (let j = 0; j < n; j += 1) colptr[j + 1]! += colptr[j]!;
  const next = colptr.slice(0, n);
  for (let k = 0; k < nnz; k += 1) {
    const q = next[i32[c.idx + k]!]!++;
    const row = i32[c.seg + k]!;
    i32[c.colRow + q] = row;
    f32[c.colVal + q] = c.vals >= 0 ? f32[c.vals + k]! : f32[c.rowScale + row]!;
  }
}

/**
 * Registers the sparse first layer's two kernels (run through tf.engine().runKernel by ops.ts) with
 * bodies that take a SparseCall: the addon's, or the heap functions of heap-kernels.ts. Inputs idx,
 * seg (int32, nnz), values (float32: vals nnz × 1, or rowScale rows × 1 when attrs.rowScale), w
 * (n × h), bias (h) → rows × h; the gradient kernel takes dy (rows × h) instead of bias and gives n × h,
 * its body getting the entries in column order on a scratch tensor freed when it returns.
 */
export function registerSparseKernels(bodies: { forward(call: SparseCall): void; backward(call: SparseCall): void }): void {
  const run = (args: KernelArgs, grad: boolean): tf.TensorInfo => {
    const { idx, seg, values, w, bias, dy } = args.inputs as Record<string, tf.TensorInfo>;
    const attrs = args.attrs as { rows: number; rowScale: boolean };
    const backend = args.backend as WasmBackendInternals;
    const [n, h] = w.shape;
    const nnz = idx.shape[0];
    const out = backend.makeOutput(grad ? [n, h] : [attrs.rows, h], "float32");
    const scratch = grad ? backend.makeOutput([n + 1 + 2 * nnz], "int32") : undefined;
    try {
      const at = (t: tf.TensorInfo | undefined): number => (t === undefined ? -1 : floatOffset(backend, t));
      const base = at(scratch);
      const call: SparseCall = {
        rows: attrs.rows,
        h,
        nnz,
        n,
        idx: at(idx),
        seg: at(seg),
        vals: attrs.rowScale ? -1 : at(values),
        rowScale: attrs.rowScale ? at(values) : -1,
        w: at(w),
        bias: grad ? -1 : at(bias),
        out: grad ? -1 : at(out),
        dy: grad ? at(dy) : -1,
        dw: grad ? at(out) : -1,
        colptr: base,
        colRow: grad ? base + n + 1 : -1,
        colVal: grad ? base + n + 1 + nnz : -1,
      };
      if (grad) {
        // The heap is read after the last makeOutput, whose allocation may have grown (and so replaced) it.
        sortByColumn(backend.wasm.HEAPF32.buffer as ArrayBuffer, call);
        bodies.backward(call);
      } else bodies.forward(call);
    } catch (error) {
      backend.disposeData(out.dataId, true);
      throw error;
    } finally {
      if (scratch) backend.disposeData(scratch.dataId, true);
    }
    return out;
  };
  registerOwnKernel(SPARSE_LINEAR_KERNEL, (args) => run(args, false));
  registerOwnKernel(SPARSE_LINEAR_GRAD_KERNEL, (args) => run(args, true));
}

/** The sparse kernels through the addon; the heap is read at each call, after makeOutput, whose allocation may have grown (and so replaced) it. */
function registerAddonSparseKernels(addon: Addon): void {
  const heap = (): ArrayBuffer => (tf.backend() as unknown as WasmBackendInternals).wasm.HEAPF32.buffer as ArrayBuffer;
  registerSparseKernels({
    forward: (c) => addon.sparseLinear!(heap(), c.rows, c.h, c.nnz, c.n, c.idx, c.seg, c.vals, c.rowScale, c.w, c.bias, c.out),
    backward: (c) => addon.sparseLinearGradByColumn!(heap(), c.rows, c.h, c.nnz, c.n, c.colptr, c.colRow, c.colVal, c.dy, c.dw),
  });
}

/** tanh or exp over a float32 tensor natively (an addon without it, or another dtype: the stock kernel). */
function nativeUnary(o: { args: KernelArgs; run: ((heap: ArrayBuffer, x: number, y: number, n: number) => void) | undefined }): tf.TensorInfo | undefined {
  const x = o.args.inputs.x;
  if (!o.run || !x || x.dtype !== "float32") return undefined;
  const backend = o.args.backend as WasmBackendInternals;
  const out = backend.makeOutput([...x.shape], "float32");
  const size = tf.util.sizeFromShape(x.shape);
  if (size === 0) return out;
  const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
  o.run(backend.wasm.HEAPF32.buffer as ArrayBuffer, at(x), at(out), size);
  return out;
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
  const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
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
