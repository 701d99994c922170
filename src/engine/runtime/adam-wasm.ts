/**
 * A fused Adam step as a tiny hand-assembled WebAssembly SIMD function that runs on the tfjs wasm
 * heap itself (it imports the backend's memory): one pass, four floats at a time, where a JavaScript
 * loop does one float at a time and tfjs would run about a dozen kernels.
 */
import { F32, get, I32, instantiate, isSharedMemory, loopUntil, moduleBytes, op, set, sleb, splat, tee, V128, v128Load, v128Store, vAdd, vDiv, vMul, vSqrt, vSub } from "./wasm-asm.ts";

export { isWasmMemory } from "./wasm-asm.ts";

/** Updates n floats: m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²; pOut ← pIn − lr·m / (√v + eps). Byte offsets. */
export type HeapAdam = (o: { pIn: number; pOut: number; g: number; m: number; v: number; n: number; b1: number; b2: number; lr: number; eps: number }) => void;

// Parameter and local indices of the function below.
const P_IN = 0, P_OUT = 1, G = 2, M = 3, V = 4, N = 5, B1 = 6, B2 = 7, LR = 8, EPS = 9;
const I = 10, END = 11, A1 = 12, A2 = 13, GS = 14, MS = 15, VS = 16, GV = 17, MV = 18, VV = 19;

const addr = (base: number): number[] => [...get(base), ...get(I), op.i32Add];

/** adam(pIn, pOut, g, m, v, n, b1, b2, lr, eps). */
function adamFunction(): { name: string; params: number[]; locals: Array<[number, number]>; body: number[] } {
  const scalarStep = [
    ...addr(G), op.f32Load, 2, 0, ...set(GS),
    ...addr(M), ...get(B1), ...addr(M), op.f32Load, 2, 0, op.f32Mul, ...get(A1), ...get(GS), op.f32Mul, op.f32Add, ...tee(MS), op.f32Store, 2, 0,
    ...addr(V), ...get(B2), ...addr(V), op.f32Load, 2, 0, op.f32Mul, ...get(A2), ...get(GS), ...get(GS), op.f32Mul, op.f32Mul, op.f32Add, ...tee(VS), op.f32Store, 2, 0,
    ...addr(P_OUT), ...addr(P_IN), op.f32Load, 2, 0, ...get(LR), ...get(MS), op.f32Mul, ...get(VS), op.f32Sqrt, ...get(EPS), op.f32Add, op.f32Div, op.f32Sub, op.f32Store, 2, 0,
  ];
  const vectorStep = [
    ...addr(G), ...v128Load, ...set(GV),
    ...addr(M), ...get(B1), ...splat, ...addr(M), ...v128Load, ...vMul, ...get(A1), ...splat, ...get(GV), ...vMul, ...vAdd, ...tee(MV), ...v128Store,
    ...addr(V), ...get(B2), ...splat, ...addr(V), ...v128Load, ...vMul, ...get(A2), ...splat, ...get(GV), ...get(GV), ...vMul, ...vMul, ...vAdd, ...tee(VV), ...v128Store,
    ...addr(P_OUT), ...addr(P_IN), ...v128Load, ...get(LR), ...splat, ...get(MV), ...vMul, ...get(VV), ...vSqrt, ...get(EPS), ...splat, ...vAdd, ...vDiv, ...vSub, ...v128Store,
  ];
  return {
    name: "adam",
    params: [I32, I32, I32, I32, I32, I32, F32, F32, F32, F32],
    // Locals: i, end (i32); a1, a2, gs, ms, vs (f32); gv, mv, vv (v128).
    locals: [[2, I32], [5, F32], [3, V128]],
    body: [
      ...get(N), op.i32Const, ...sleb(-4), op.i32And, op.i32Const, 2, op.i32Shl, ...set(END),
      op.f32Const, 0, 0, 0x80, 0x3f, ...get(B1), op.f32Sub, ...set(A1),
      op.f32Const, 0, 0, 0x80, 0x3f, ...get(B2), op.f32Sub, ...set(A2),
      ...loopUntil({ counter: I, limit: get(END), body: vectorStep, stride: 16 }),
      ...loopUntil({ counter: I, limit: [...get(N), op.i32Const, 2, op.i32Shl], body: scalarStep, stride: 4 }),
    ],
  };
}

/** The SIMD Adam bound to a wasm memory, or undefined when this runtime cannot run it. */
export function heapAdam(memory: object): HeapAdam | undefined {
  const exports = instantiate(moduleBytes({ shared: isSharedMemory(memory), functions: [adamFunction()] }), memory);
  if (!exports) return undefined;
  const adam = exports.adam as (...args: number[]) => void;
  return (o) => adam(o.pIn, o.pOut, o.g, o.m, o.v, o.n, o.b1, o.b2, o.lr, o.eps);
}
