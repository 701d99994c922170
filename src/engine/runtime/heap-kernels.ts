/**
 * Kernels of the stock wasm backend for when the native addon is not built, as hand-assembled
 * WebAssembly SIMD functions (wasm-asm.ts) that run on the tfjs heap.
 *
 * Column sums (ops.ts columnSums, every bias gradient): one pass down the rows into an accumulator
 * row. tf.sum over axis 0 transposes the matrix first on wasm, and a ones · X product packs X anew.
 *
 * The sparse first layers (ops.ts sparseLinear): two functions
 * registered as the same kernels the addon provides (native-kernels.ts SPARSE_LINEAR_KERNEL and
 * SPARSE_LINEAR_GRAD_KERNEL), so ops.ts takes one path for both. Forward, out = bias + Σ_k v_k·W[idx_k]
 * into row seg_k, four floats at a time; backward, with the entries sorted by column, each row
 * dW[c] = Σ v_k·dY[seg_k] over column c's entries, written once. Through
 * tfjs's ops the same layer was a gather, a broadcast multiply and a segment sum forward, and a gather
 * and a scatter back: ≈ 120 ms of a 470 ms step at the Yelp shape (BENCHMARKS.md).
 */
import * as tf from "@tensorflow/tfjs";
import { registerOwnKernel, registerSparseKernels, SPARSE_LINEAR_KERNEL, type KernelArgs, type WasmBackendInternals } from "./native-kernels.ts";
import { backendMemory, F32, get, I32, instantiate, isSharedMemory, loopUntil, moduleBytes, op, set, sleb, splat, V128, v128Load, v128Store, vAdd, vMul } from "./wasm-asm.ts";

// Parameters of both functions (byte offsets on the heap, or counts), then their locals.
const ROWS = 0, H = 1, NNZ = 2;
// sparseLinear(rows, h, nnz, idx, seg, vals, rowScale, w, bias, out)
const F = { idx: 3, seg: 4, vals: 5, rowScale: 6, w: 7, bias: 8, out: 9 };
// sparseLinearGrad(rows, h, nnz, n, colptr, colRow, colVal, unused, dy, dw)
const G = { n: 3, colptr: 4, colRow: 5, colVal: 6, dy: 8, dw: 9 };
const K = 10, J = 11, O = 12, SRC = 13, HB = 14, HV = 15, S = 16, T = 17, X = 18, XV = 19;
const LOCALS: Array<[number, number]> = [[8, I32], [1, F32], [1, V128]];

const shl2 = [op.i32Const, 2, op.i32Shl];
const at = (base: number, index: number[]): number[] => [...get(base), ...index, op.i32Add];
const addr = (base: number): number[] => [...get(base), ...get(J), op.i32Add];

/** hb = h·4 bytes per row, hv = hb rounded down to whole vectors. */
const rowBytes = [...get(H), ...shl2, ...set(HB), ...get(HB), op.i32Const, ...sleb(-16), op.i32And, ...set(HV)];

/** o[j] += x·src[j] over one row, four floats at a time, then the rest one at a time. */
const axpyRow = [
  op.i32Const, 0, ...set(J),
  ...loopUntil({ counter: J, limit: get(HV), stride: 16, body: [...addr(O), ...addr(O), ...v128Load, ...get(XV), ...addr(SRC), ...v128Load, ...vMul, ...vAdd, ...v128Store] }),
  ...loopUntil({ counter: J, limit: get(HB), stride: 4, body: [...addr(O), ...addr(O), op.f32Load, 2, 0, ...get(X), ...addr(SRC), op.f32Load, 2, 0, op.f32Mul, op.f32Add, op.f32Store, 2, 0] }),
];

/** For each entry k: s = seg[k], t = idx[k], x = vals[k] (or rowScale[s]), then one row update. */
function entries(p: { idx: number; seg: number; vals: number; rowScale: number }, rowsOf: (s: number, t: number) => { dest: number[]; src: number[] }): number[] {
  const { dest, src } = rowsOf(S, T);
  return [
    op.i32Const, 0, ...set(K),
    ...loopUntil({
      counter: K,
      limit: get(NNZ),
      stride: 1,
      body: [
        ...at(p.seg, [...get(K), ...shl2]), op.i32Load, 2, 0, ...set(S),
        ...at(p.idx, [...get(K), ...shl2]), op.i32Load, 2, 0, ...set(T),
        ...get(p.vals), op.i32Const, 0, op.i32GeS, op.if, F32,
        ...at(p.vals, [...get(K), ...shl2]), op.f32Load, 2, 0,
        op.else,
        ...at(p.rowScale, [...get(S), ...shl2]), op.f32Load, 2, 0,
        op.end, ...set(X), ...get(X), ...splat, ...set(XV),
        ...dest, ...set(O), ...src, ...set(SRC),
        ...axpyRow,
      ],
    }),
  ];
}

const forward = {
  name: "sparseLinear",
  params: Array<number>(10).fill(I32),
  locals: LOCALS,
  body: [
    ...rowBytes,
    // Each output row starts as the bias.
    op.i32Const, 0, ...set(K),
    ...loopUntil({
      counter: K,
      limit: get(ROWS),
      stride: 1,
      body: [
        ...get(F.out), ...get(K), ...get(HB), op.i32Mul, op.i32Add, ...set(O),
        op.i32Const, 0, ...set(J),
        ...loopUntil({ counter: J, limit: get(HV), stride: 16, body: [...addr(O), ...addr(F.bias), ...v128Load, ...v128Store] }),
        ...loopUntil({ counter: J, limit: get(HB), stride: 4, body: [...addr(O), ...addr(F.bias), op.f32Load, 2, 0, op.f32Store, 2, 0] }),
      ],
    }),
    ...entries(F, (s, t) => ({ dest: [...get(F.out), ...get(s), ...get(HB), op.i32Mul, op.i32Add], src: [...get(F.w), ...get(t), ...get(HB), op.i32Mul, op.i32Add] })),
  ],
};

/**
 * sparseLinearGrad(rows, h, nnz, n, colptr, colRow, colVal, _, dy, dw), with the entries in column
 * order (native-kernels.ts sortByColumn): for each column c (T), dW[c] = 0, then dW[c] += colVal[q]·dY[colRow[q]]
 * for q in colptr[c] .. colptr[c+1] (K), so the row stays in cache while it is summed and is written once.
 */
const backward = {
  name: "sparseLinearGrad",
  params: Array<number>(10).fill(I32),
  locals: LOCALS,
  body: [
    ...rowBytes,
    op.i32Const, 0, ...set(T),
    ...loopUntil({
      counter: T,
      limit: get(G.n),
      stride: 1,
      body: [
        ...get(G.dw), ...get(T), ...get(HB), op.i32Mul, op.i32Add, ...set(O),
        op.i32Const, 0, ...set(J),
        ...loopUntil({ counter: J, limit: get(HV), stride: 16, body: [...addr(O), op.f32Const, 0, 0, 0, 0, ...splat, ...v128Store] }),
        ...loopUntil({ counter: J, limit: get(HB), stride: 4, body: [...addr(O), op.f32Const, 0, 0, 0, 0, op.f32Store, 2, 0] }),
        ...at(G.colptr, [...get(T), ...shl2]), op.i32Load, 2, 0, ...set(K),
        ...loopUntil({
          counter: K,
          limit: [...at(G.colptr, [...get(T), ...shl2]), op.i32Load, 2, 4],
          stride: 1,
          body: [
            ...at(G.colRow, [...get(K), ...shl2]), op.i32Load, 2, 0, ...set(S),
            ...at(G.colVal, [...get(K), ...shl2]), op.f32Load, 2, 0, ...set(X), ...get(X), ...splat, ...set(XV),
            ...get(G.dy), ...get(S), ...get(HB), op.i32Mul, op.i32Add, ...set(SRC),
            ...axpyRow,
          ],
        }),
      ],
    }),
  ],
};

/** columnSums(rows, h, x, out, …): out[j] = Σ_r x[r·h + j]; ten parameters like the others (the last six unused), so the locals are numbered alike. */
const CS = { x: 2, out: 3 };
const columnSumsFunction = {
  name: "columnSums",
  params: Array<number>(10).fill(I32),
  locals: LOCALS,
  body: [
    ...rowBytes,
    op.f32Const, 0, 0, 0, 0, ...splat, ...set(XV),
    op.i32Const, 0, ...set(J),
    ...loopUntil({ counter: J, limit: get(HV), stride: 16, body: [...addr(CS.out), ...get(XV), ...v128Store] }),
    ...loopUntil({ counter: J, limit: get(HB), stride: 4, body: [...addr(CS.out), op.f32Const, 0, 0, 0, 0, op.f32Store, 2, 0] }),
    // Row by row: O = the output, SRC = the row, added with the same loops as axpyRow at x = 1.
    ...get(CS.out), ...set(O),
    op.f32Const, 0, 0, 0x80, 0x3f, ...set(X), ...get(X), ...splat, ...set(XV),
    op.i32Const, 0, ...set(K),
    ...loopUntil({ counter: K, limit: get(ROWS), stride: 1, body: [...get(CS.x), ...get(K), ...get(HB), op.i32Mul, op.i32Add, ...set(SRC), ...axpyRow] }),
  ],
};

/** x (rows × h, float32) → its column sums (h). */
export const COLUMN_SUMS_KERNEL = "VcmColumnSums";

type HeapFunction = (...args: number[]) => void;

/** The two functions bound to a wasm memory, or undefined when this runtime cannot run them. */
export function heapFunctions(memory: object): { sparseLinear: HeapFunction; sparseLinearGrad: HeapFunction; columnSums: HeapFunction } | undefined {
  const exports = instantiate(moduleBytes({ shared: isSharedMemory(memory), functions: [forward, backward, columnSumsFunction] }), memory);
  if (!exports) return undefined;
  return { sparseLinear: exports.sparseLinear as HeapFunction, sparseLinearGrad: exports.sparseLinearGrad as HeapFunction, columnSums: exports.columnSums as HeapFunction };
}

/**
 * Registers the sparse kernels and the column sums for the (already initialised) wasm backend with
 * the heap functions; false when the backend's memory cannot be found or the runtime lacks SIMD
 * (ops.ts then uses tfjs's ops). Call it only where the native addon's kernels are not registered:
 * these replace them.
 */
export function enableHeapKernels(): boolean {
  const memory = backendMemory(tf.backend());
  const functions = memory ? heapFunctions(memory) : undefined;
  if (!functions) return false;
  // The heap functions take byte offsets; −1 (absent) stays −1.
  const bytes = (words: number): number => (words < 0 ? -1 : words * 4);
  registerSparseKernels({
    forward: (c) => functions.sparseLinear(c.rows, c.h, c.nnz, bytes(c.idx), bytes(c.seg), bytes(c.vals), bytes(c.rowScale), bytes(c.w), bytes(c.bias), bytes(c.out)),
    backward: (c) => functions.sparseLinearGrad(c.rows, c.h, c.nnz, c.n, bytes(c.colptr), bytes(c.colRow), bytes(c.colVal), 0, bytes(c.dy), bytes(c.dw)),
  });
  const sums = (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs.x as tf.TensorInfo;
    const backend = args.backend as WasmBackendInternals;
    const [rows, h] = x.shape;
    const out = backend.makeOutput([h], "float32");
    functions.columnSums(rows, h, backend.dataIdMap.get(x.dataId)!.memoryOffset, backend.dataIdMap.get(out.dataId)!.memoryOffset, 0, 0, 0, 0, 0, 0);
    return out;
  };
  registerOwnKernel(COLUMN_SUMS_KERNEL, sums);
  return true;
}

/** True while the heap column sums are registered and wasm is in use (float32 input only). */
export function heapColumnSumsEnabled(): boolean {
  return tf.getBackend() === "wasm" && tf.getKernel(COLUMN_SUMS_KERNEL, "wasm") !== undefined;
}

/** True while sparse kernels of either kind (the addon's or these) are registered and wasm is in use. */
export function sparseKernelsEnabled(): boolean {
  return tf.getBackend() === "wasm" && tf.getKernel(SPARSE_LINEAR_KERNEL, "wasm") !== undefined;
}
