/**
 * A fused Adam step as a tiny hand-assembled WebAssembly SIMD function that runs on the tfjs wasm
 * heap itself (it imports the backend's memory): one pass, four floats at a time, where a JavaScript
 * loop does one float at a time and tfjs would run about a dozen kernels.
 */

/** Updates n floats: m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²; pOut ← pIn − lr·m / (√v + eps). Byte offsets. */
export type HeapAdam = (o: { pIn: number; pOut: number; g: number; m: number; v: number; n: number; b1: number; b2: number; lr: number; eps: number }) => void;

// Parameter and local indices of the function below.
const P_IN = 0, P_OUT = 1, G = 2, M = 3, V = 4, N = 5, B1 = 6, B2 = 7, LR = 8, EPS = 9;
const I = 10, END = 11, A1 = 12, A2 = 13, GS = 14, MS = 15, VS = 16, GV = 17, MV = 18, VV = 19;

const op = {
  block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b, void: 0x40,
  get: 0x20, set: 0x21, tee: 0x22,
  i32Const: 0x41, f32Const: 0x43,
  i32GeU: 0x4f, i32Add: 0x6a, i32And: 0x71, i32Shl: 0x74,
  f32Load: 0x2a, f32Store: 0x38, f32Sqrt: 0x91, f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95,
} as const;
const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const simd = (code: number): number[] => [0xfd, ...uleb(code)];
const v128Load = [...simd(0x00), 2, 0];
const v128Store = [...simd(0x0b), 2, 0];
const splat = simd(0x13);
const [vSqrt, vAdd, vSub, vMul, vDiv] = [0xe3, 0xe4, 0xe5, 0xe6, 0xe7].map(simd);
const get = (i: number): number[] => [op.get, i];
const set = (i: number): number[] => [op.set, i];
const tee = (i: number): number[] => [op.tee, i];
const addr = (base: number): number[] => [...get(base), ...get(I), op.i32Add];

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, "utf8")];
  return [...uleb(bytes.length), ...bytes];
}

/**
 * The module's bytes: imports env.memory, exports adam(pIn, pOut, g, m, v, n, b1, b2, lr, eps). A
 * shared memory (tfjs's threaded build, wasm-threads.ts) can only be imported as shared, with a maximum
 * at least its own: tfjs's is 4 GiB, 65,536 pages.
 */
function moduleBytes(shared: boolean): Uint8Array {
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
  const loopUntil = (limit: number[], step: number[], stride: number): number[] => [
    op.block, op.void, op.loop, op.void,
    ...get(I), ...limit, op.i32GeU, op.brIf, 1,
    ...step,
    ...get(I), op.i32Const, ...sleb(stride), op.i32Add, ...set(I),
    op.br, 0, op.end, op.end,
  ];
  const body = [
    // Locals: i, end (i32); a1, a2, gs, ms, vs (f32); gv, mv, vv (v128).
    ...uleb(3), ...uleb(2), I32, ...uleb(5), F32, ...uleb(3), V128,
    ...get(N), op.i32Const, ...sleb(-4), op.i32And, op.i32Const, 2, op.i32Shl, ...set(END),
    op.f32Const, 0, 0, 0x80, 0x3f, ...get(B1), op.f32Sub, ...set(A1),
    op.f32Const, 0, 0, 0x80, 0x3f, ...get(B2), op.f32Sub, ...set(A2),
    ...loopUntil(get(END), vectorStep, 16),
    ...loopUntil([...get(N), op.i32Const, 2, op.i32Shl], scalarStep, 4),
    op.end,
  ];
  const type = [0x60, ...uleb(10), I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, ...uleb(0)];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(1), ...type]),
    ...section(2, [...uleb(1), ...name("env"), ...name("memory"), 0x02, ...(shared ? [0x03, ...uleb(0), ...uleb(65_536)] : [0x00, ...uleb(0)])]),
    ...section(3, [...uleb(1), ...uleb(0)]),
    ...section(7, [...uleb(1), ...name("adam"), 0x00, ...uleb(0)]),
    ...section(10, [...uleb(1), ...uleb(body.length), ...body]),
  ]);
}

/** The parts of the WebAssembly API used here (the project's TypeScript libs do not declare them). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => object;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** True when `x` is a WebAssembly.Memory. */
export function isWasmMemory(x: unknown): x is object {
  return x instanceof wasmApi.Memory;
}

/** The SIMD Adam bound to a wasm memory, or undefined when this runtime cannot run it. */
export function heapAdam(memory: object): HeapAdam | undefined {
  const shared = (memory as { buffer?: unknown }).buffer instanceof SharedArrayBuffer;
  const bytes = moduleBytes(shared);
  if (!wasmApi.validate(bytes)) return undefined;
  const instance = new wasmApi.Instance(new wasmApi.Module(bytes), { env: { memory } });
  const adam = instance.exports.adam as (...args: number[]) => void;
  return (o) => adam(o.pIn, o.pOut, o.g, o.m, o.v, o.n, o.b1, o.b2, o.lr, o.eps);
}
