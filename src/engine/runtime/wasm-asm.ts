/**
 * A few helpers for the small WebAssembly SIMD functions this engine assembles by hand and runs on the
 * tfjs wasm heap itself (they import the backend's memory): the fused Adam (adam-wasm.ts) and the
 * sparse first layer and column sums (heap-kernels.ts). Opcodes are the WebAssembly 2.0 binary format's.
 */

export const op = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, br: 0x0c, brIf: 0x0d, end: 0x0b, void: 0x40,
  get: 0x20, set: 0x21, tee: 0x22,
  i32Const: 0x41, f32Const: 0x43,
  i32LtS: 0x48, i32GeS: 0x4e, i32GeU: 0x4f, i32Add: 0x6a, i32Mul: 0x6c, i32And: 0x71, i32Shl: 0x74,
  i32Load: 0x28, f32Load: 0x2a, f32Store: 0x38, f32Sqrt: 0x91, f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95,
} as const;
export const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
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

export const simd = (code: number): number[] => [0xfd, ...uleb(code)];
/** v128.load / v128.store with a 4-byte alignment hint (heap tensors are float-aligned) and offset 0. */
export const v128Load = [...simd(0x00), 2, 0];
export const v128Store = [...simd(0x0b), 2, 0];
export const splat = simd(0x13);
export const [vSqrt, vAdd, vSub, vMul, vDiv] = [0xe3, 0xe4, 0xe5, 0xe6, 0xe7].map(simd);
export const get = (i: number): number[] => [op.get, i];
export const set = (i: number): number[] => [op.set, i];
export const tee = (i: number): number[] => [op.tee, i];

/** A counted loop: `counter` from its current value, by `stride`, while below `limit` (unsigned). */
export function loopUntil(o: { counter: number; limit: number[]; body: number[]; stride: number }): number[] {
  return [
    op.block, op.void, op.loop, op.void,
    ...get(o.counter), ...o.limit, op.i32GeU, op.brIf, 1,
    ...o.body,
    ...get(o.counter), op.i32Const, ...sleb(o.stride), op.i32Add, ...set(o.counter),
    op.br, 0, op.end, op.end,
  ];
}

export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

export function name(s: string): number[] {
  const bytes = [...Buffer.from(s, "utf8")];
  return [...uleb(bytes.length), ...bytes];
}

/**
 * A module that imports env.memory and exports `functions` (each: its name, parameter types, locals
 * as [count, type] runs, and body without the final `end`), all returning nothing. A shared memory
 * (tfjs's threaded build, wasm-threads.ts) can only be imported as shared, with a maximum at least its
 * own: tfjs's is 4 GiB, 65,536 pages.
 */
export function moduleBytes(o: { shared: boolean; functions: ReadonlyArray<{ name: string; params: number[]; locals: Array<[number, number]>; body: number[] }> }): Uint8Array {
  const types = o.functions.map((f) => [0x60, ...uleb(f.params.length), ...f.params, ...uleb(0)]);
  const bodies = o.functions.map((f) => {
    const body = [...uleb(f.locals.length), ...f.locals.flatMap(([count, type]) => [...uleb(count), type]), ...f.body, op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(types.length), ...types.flat()]),
    ...section(2, [...uleb(1), ...name("env"), ...name("memory"), 0x02, ...(o.shared ? [0x03, ...uleb(0), ...uleb(65_536)] : [0x00, ...uleb(0)])]),
    ...section(3, [...uleb(o.functions.length), ...o.functions.flatMap((_, i) => uleb(i))]),
    ...section(7, [...uleb(o.functions.length), ...o.functions.flatMap((f, i) => [...name(f.name), 0x00, ...uleb(i)])]),
    ...section(10, [...uleb(bodies.length), ...bodies.flat()]),
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

/** Whether a memory is shared (the threaded build's), which its importers must declare. */
export function isSharedMemory(memory: object): boolean {
  return (memory as { buffer?: unknown }).buffer instanceof SharedArrayBuffer;
}

/** The exports of a module bound to `memory`, or undefined when this runtime cannot run it (no SIMD). */
export function instantiate(bytes: Uint8Array, memory: object): Record<string, unknown> | undefined {
  if (!wasmApi.validate(bytes)) return undefined;
  return new wasmApi.Instance(new wasmApi.Module(bytes), { env: { memory } }).exports;
}

/** The tfjs wasm backend's memory: the plain build exports it, the threaded one (wasm-threads.ts) keeps the shared one it imports. */
export function backendMemory(backend: unknown): object | undefined {
  const b = backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } };
  const memory = b.wasm?.asm?.memory ?? b.wasm?.wasmMemory;
  return isWasmMemory(memory) ? memory : undefined;
}
