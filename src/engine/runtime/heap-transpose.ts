/**
 * The wasm backend's 2-D transpose as a hand-assembled WebAssembly SIMD function on the tfjs heap
 * (wasm-asm.ts). Stock wasm (XNNPACK) training transposes its operands instead of packing new right
 * operands (ops.ts linear, matMulNT, matMulTN), and tfjs's own Transpose kernel moves one number at a
 * time, writing down a column: ≈ 3–4 ns a number at the Yelp shape (600 × 10,003 in ≈ 19 ms). Here
 * the matrix goes in 4 × 4 tiles (four row loads, eight shuffles, four stores), row blocks of 1,024 at
 * a time so that the tiles' source lines are still cached when the next strip of columns reads them:
 * 600 × 10,003 in 4–5 ms, 128 × 10,003 in 1–1.3 ms (scripts/profile-step.ts shows the step's share).
 * Other ranks and permutations, and dtypes other than float32 and int32, go to the stock kernel.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelArgs, WasmBackendInternals } from "./native-kernels.ts";
import { backendMemory, get, I32, instantiate, isSharedMemory, loopUntil, moduleBytes, op, set, simd, sleb, V128, v128Load, v128Store } from "./wasm-asm.ts";

// transpose2d(rows, cols, x, out): x (rows × cols) → out (cols × rows), byte offsets; then the locals.
const ROWS = 0, COLS = 1, X = 2, OUT = 3;
const R = 4, C = 5, RB = 6, OB = 7, P = 8, Q = 9, R4 = 10, C4 = 11, BLOCK = 12, BEND = 13;
const VA = 14, VB = 15, VC = 16, VD = 17, T0 = 18, T1 = 19, T2 = 20, T3 = 21;
const LOCALS: Array<[number, number]> = [[10, I32], [8, V128]];

const ROW_BLOCK = 1024;

/** i8x16.shuffle picking float lanes (0–3 from the first operand, 4–7 from the second). */
const shuffle = (lanes: [number, number, number, number]): number[] => [...simd(0x0d), ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];
const LO = shuffle([0, 4, 1, 5]);
const HI = shuffle([2, 6, 3, 7]);
const FIRST = shuffle([0, 1, 4, 5]);
const SECOND = shuffle([2, 3, 6, 7]);

const i32 = (n: number): number[] => [op.i32Const, ...sleb(n)];
const mul = (a: number, b: number): number[] => [...get(a), ...get(b), op.i32Mul];
const add = op.i32Add;
const lt = op.i32LtS;

/** out[c·rows + r] = x[r·cols + c] one number at a time over rows r0..r1 × columns c0..c1 (the edges). */
function scalarRect(r0: number[], r1: number[], c0: number[], c1: number[]): number[] {
  return [
    ...r0, ...set(R),
    ...loopUntil({
      counter: R,
      limit: r1,
      stride: 1,
      body: [
        ...c0, ...set(C),
        ...loopUntil({
          counter: C,
          limit: c1,
          stride: 1,
          body: [
            // &out[c·rows + r] = OUT + c·OB + r·4, then x[r·cols + c] = X + r·RB + c·4.
            ...get(OUT), ...mul(C, OB), add, ...get(R), ...i32(2), op.i32Shl, add,
            ...get(X), ...mul(R, RB), add, ...get(C), ...i32(2), op.i32Shl, add,
            op.i32Load, 2, 0,
            0x36, 2, 0, // i32.store: the bits move as they are, float or int
          ],
        }),
      ],
    }),
  ];
}

/** One 4 × 4 tile at (R, C): rows R..R+3 of x, columns C..C+3, into rows C..C+3 of out. */
const tile = [
  ...get(X), ...mul(R, RB), add, ...get(C), ...i32(2), op.i32Shl, add, ...set(P),
  ...get(P), ...v128Load, ...set(VA),
  ...get(P), ...get(RB), add, ...v128Load, ...set(VB),
  ...get(P), ...get(RB), ...i32(1), op.i32Shl, add, ...v128Load, ...set(VC),
  ...get(P), ...get(RB), ...i32(3), op.i32Mul, add, ...v128Load, ...set(VD),
  ...get(VA), ...get(VB), ...LO, ...set(T0),
  ...get(VA), ...get(VB), ...HI, ...set(T1),
  ...get(VC), ...get(VD), ...LO, ...set(T2),
  ...get(VC), ...get(VD), ...HI, ...set(T3),
  ...get(OUT), ...mul(C, OB), add, ...get(R), ...i32(2), op.i32Shl, add, ...set(Q),
  ...get(Q), ...get(T0), ...get(T2), ...FIRST, ...v128Store,
  ...get(Q), ...get(OB), add, ...get(T0), ...get(T2), ...SECOND, ...v128Store,
  ...get(Q), ...get(OB), ...i32(1), op.i32Shl, add, ...get(T1), ...get(T3), ...FIRST, ...v128Store,
  ...get(Q), ...get(OB), ...i32(3), op.i32Mul, add, ...get(T1), ...get(T3), ...SECOND, ...v128Store,
];

const transposeFunction = {
  name: "transpose2d",
  params: [I32, I32, I32, I32],
  locals: LOCALS,
  body: [
    ...get(COLS), ...i32(2), op.i32Shl, ...set(RB),
    ...get(ROWS), ...i32(2), op.i32Shl, ...set(OB),
    ...get(ROWS), ...i32(-4), op.i32And, ...set(R4),
    ...get(COLS), ...i32(-4), op.i32And, ...set(C4),
    // Whole tiles, a block of rows at a time: for each block, every strip of four columns, down the block.
    ...i32(0), ...set(BLOCK),
    ...loopUntil({
      counter: BLOCK,
      limit: get(R4),
      stride: ROW_BLOCK,
      body: [
        // BEND = min(BLOCK + ROW_BLOCK, R4)
        ...get(BLOCK), ...i32(ROW_BLOCK), add, ...set(BEND),
        ...get(R4), ...get(BEND), lt, op.if, op.void, ...get(R4), ...set(BEND), op.end,
        ...i32(0), ...set(C),
        ...loopUntil({
          counter: C,
          limit: get(C4),
          stride: 4,
          body: [...get(BLOCK), ...set(R), ...loopUntil({ counter: R, limit: get(BEND), stride: 4, body: tile })],
        }),
      ],
    }),
    // The edges: the last rows (all columns), then the last columns of the whole-tile rows.
    ...scalarRect(get(R4), get(ROWS), i32(0), get(COLS)),
    ...scalarRect(i32(0), get(R4), get(C4), get(COLS)),
  ],
};

/** The function bound to a wasm memory, or undefined when this runtime cannot run it. */
export function heapTranspose(memory: object): ((rows: number, cols: number, x: number, out: number) => void) | undefined {
  const exports = instantiate(moduleBytes({ shared: isSharedMemory(memory), functions: [transposeFunction] }), memory);
  return exports?.transpose2d as ((rows: number, cols: number, x: number, out: number) => void) | undefined;
}

/** The stock Transpose kernel while ours stands in for it. */
let stockTranspose: tf.KernelConfig | undefined;

/**
 * Puts the heap transpose in place of wasm's Transpose kernel for 2-D float32 and int32 tensors (the
 * stock kernel keeps the rest); false when the backend's memory cannot be found or the runtime lacks SIMD.
 */
export function enableHeapTranspose(): boolean {
  if (stockTranspose) return true;
  const memory = backendMemory(tf.backend());
  const transpose = memory ? heapTranspose(memory) : undefined;
  const stock = tf.getKernel("Transpose", "wasm");
  if (!transpose || !stock) return false;
  stockTranspose = stock;
  const kernelFunc = (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs.x as tf.TensorInfo;
    const perm = (args.attrs as { perm: number[] }).perm;
    if (x.shape.length !== 2 || perm[0] !== 1 || perm[1] !== 0 || (x.dtype !== "float32" && x.dtype !== "int32")) return stock.kernelFunc(args as never) as tf.TensorInfo;
    const backend = args.backend as WasmBackendInternals;
    const [rows, cols] = x.shape;
    const out = backend.makeOutput([cols, rows], x.dtype);
    if (rows * cols > 0) transpose(rows, cols, backend.dataIdMap.get(x.dataId)!.memoryOffset, backend.dataIdMap.get(out.dataId)!.memoryOffset);
    return out;
  };
  tf.unregisterKernel("Transpose", "wasm");
  tf.registerKernel({ kernelName: "Transpose", backendName: "wasm", setupFunc: stock.setupFunc, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  return true;
}

/** Puts the stock Transpose kernel back (tests compare both). */
export function disableHeapTranspose(): void {
  if (!stockTranspose) return;
  tf.unregisterKernel("Transpose", "wasm");
  tf.registerKernel(stockTranspose);
  stockTranspose = undefined;
}

/** True while the heap transpose stands in for wasm's Transpose and wasm is in use. */
export function heapTransposeEnabled(): boolean {
  return stockTranspose !== undefined && tf.getBackend() === "wasm";
}
