/**
 * Adam (Kingma & Ba, with PyTorch's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8) written to do less work
 * than tfjs's optimiser: one fused pass per tensor reads the parameter, gradient and moments once and
 * writes the new parameter (tfjs runs about a dozen full-size kernels per tensor): WebAssembly SIMD on
 * the wasm heap, a JavaScript loop on cpu; on native backends the same arithmetic runs as tensor ops.
 */
import * as tf from "@tensorflow/tfjs";
import { heapAdam, isWasmMemory, type HeapAdam } from "./adam-wasm.ts";
import { nativeAdam, type NativeAdam } from "./native-kernels.ts";

export interface AdamOptions {
  readonly learningRate: number;
  /**
   * Per tensor: true when no matMul reads it, so wasm may update it in place (wasm's matMul keeps
   * packed copies of its right operand per tensor, so those tensors are replaced instead). Default: none.
   */
  readonly inPlace?: ReadonlyArray<boolean>;
  /**
   * "tensor" forces the tensor-op update that GPU backends use, "wasm-simd" the WebAssembly pass even
   * when the native kernels are loaded (tests compare them); default "auto".
   */
  readonly implementation?: "auto" | "tensor" | "wasm-simd";
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

/** Where the moments live and which loop applies the update. */
type Mode =
  /**
   * wasm with the native kernels: moments are heap tensors, one multithreaded C pass per tensor, and
   * every parameter is updated in place (the native sgemm keeps no packed copies of its operands).
   */
  | { kind: "native"; run: NativeAdam; m: tf.Tensor[]; v: tf.Tensor[] }
  /** wasm: moments are heap tensors, one SIMD WebAssembly pass per tensor (adam-wasm.ts). */
  | { kind: "heap"; run: HeapAdam; m: tf.Tensor[]; v: tf.Tensor[] }
  /** cpu (or wasm without SIMD): moments in JavaScript arrays, one JavaScript pass per tensor. */
  | { kind: "host"; m: Float32Array[]; v: Float32Array[] }
  /** Native backends (tensorflow, GPU): moments are tensors, the update runs as tensor ops. */
  | { kind: "tensor"; m: tf.Tensor[]; v: tf.Tensor[] };

/** Adam state for a fixed list of parameter tensors, on the backend current when it is made. */
export class Adam {
  private readonly lr: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly inPlace: ReadonlyArray<boolean>;
  private readonly backend: string;
  private readonly mode: Mode;
  private t = 0;

  constructor(sizes: ReadonlyArray<number>, options: AdamOptions) {
    this.lr = options.learningRate;
    this.b1 = options.beta1 ?? 0.9;
    this.b2 = options.beta2 ?? 0.999;
    this.eps = options.epsilon ?? 1e-8;
    this.inPlace = options.inPlace ?? sizes.map(() => false);
    this.backend = tf.getBackend();
    const native = this.backend === "wasm" ? nativeAdam() : undefined;
    const memory = this.backend === "wasm" ? wasmMemory() : undefined;
    const run = memory ? heapAdam(memory) : undefined;
    const zeros = (): tf.Tensor[] => sizes.map((n) => tf.zeros([n]));
    if (options.implementation === "tensor") this.mode = { kind: "tensor", m: zeros(), v: zeros() };
    else if (options.implementation !== "wasm-simd" && native) this.mode = { kind: "native", run: native, m: zeros(), v: zeros() };
    else if (run) this.mode = { kind: "heap", run, m: zeros(), v: zeros() };
    else if (this.backend === "wasm" || this.backend === "cpu") {
      this.mode = { kind: "host", m: sizes.map((n) => new Float32Array(n)), v: sizes.map((n) => new Float32Array(n)) };
    } else this.mode = { kind: "tensor", m: zeros(), v: zeros() };
  }

  /** Number of updates applied so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * Applies one update and returns the parameters after it: the same tensors changed in place where
   * allowed (cpu; wasm with the native kernels; wasm tensors marked inPlace), new tensors otherwise (the old ones are then disposed).
   * The caller keeps what it returns.
   */
  update(params: ReadonlyArray<tf.Tensor>, grads: ReadonlyArray<tf.Tensor>): tf.Tensor[] {
    if (tf.getBackend() !== this.backend) throw new Error(`Invariant failed: Adam was made on ${this.backend}, not ${tf.getBackend()}`);
    this.t += 1;
    // θ ← θ − lr·m̂/(√v̂ + ε) equals θ ← θ − lrₜ·m/(√v + εₜ) with the bias corrections folded into lrₜ and εₜ.
    const c2 = Math.sqrt(1 - this.b2 ** this.t);
    const lrT = (this.lr * c2) / (1 - this.b1 ** this.t);
    const epsT = this.eps * c2;
    const mode = this.mode;
    return params.map((param, i) => {
      const grad = grads[i];
      // wasm's matMul (XNNPACK) keeps weights packed per tensor, so weights a matMul reads go to a new tensor.
      const inPlace = this.backend === "cpu" || this.inPlace[i];
      switch (mode.kind) {
        case "native": {
          const f = (t: tf.Tensor): number => heapOffset(t) / 4;
          mode.run({ pIn: f(param), pOut: f(param), g: f(grad), m: f(mode.m[i]), v: f(mode.v[i]), n: param.size, b1: this.b1, b2: this.b2, lr: lrT, eps: epsT });
          return param;
        }
        case "heap": {
          const out = inPlace ? param : heapTensorLike(param);
          const at = (t: tf.Tensor): number => heapOffset(t);
          mode.run({ pIn: at(param), pOut: at(out), g: at(grad), m: at(mode.m[i]), v: at(mode.v[i]), n: param.size, b1: this.b1, b2: this.b2, lr: lrT, eps: epsT });
          if (out !== param) param.dispose();
          return out;
        }
        case "host": {
          const out = inPlace ? param : tf.zerosLike(param);
          // Views are taken after the allocation, which may have grown (and so replaced) the heap.
          const [pIn, pOut, g] = [hostView(param), hostView(out), hostView(grad)];
          if (!pIn || !pOut || !g) throw new Error("Invariant failed: parameters of Adam must be float32");
          fusedAdam({ pIn, pOut, g, m: mode.m[i], v: mode.v[i], b1: this.b1, b2: this.b2, lrT, epsT });
          if (out !== param) param.dispose();
          return out;
        }
        case "tensor":
          return this.tensorUpdate({ mode, param, grad, i, lrT, epsT });
      }
    });
  }

  /** Frees the moments (the parameters stay with the caller). */
  dispose(): void {
    if (this.mode.kind !== "host") tf.dispose([...this.mode.m, ...this.mode.v]);
  }

  private tensorUpdate(o: { mode: { m: tf.Tensor[]; v: tf.Tensor[] }; param: tf.Tensor; grad: tf.Tensor; i: number; lrT: number; epsT: number }): tf.Tensor {
    const { mode, param, grad, i, lrT, epsT } = o;
    const [m, v, next] = tf.tidy(() => {
      // The moments are kept flat; the gradient is flattened to match and the step reshaped back.
      const g = tf.reshape(grad, [-1]);
      const m1 = tf.add(tf.mul(mode.m[i], this.b1), tf.mul(g, 1 - this.b1));
      const v1 = tf.add(tf.mul(mode.v[i], this.b2), tf.mul(tf.square(g), 1 - this.b2));
      const step = tf.reshape(tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), epsT)), lrT), param.shape);
      return [m1, v1, tf.sub(param, step)];
    });
    tf.dispose([mode.m[i], mode.v[i], param]);
    mode.m[i] = m;
    mode.v[i] = v;
    return next;
  }
}

/** One pass over a tensor: the two moment updates and the parameter step. */
function fusedAdam(o: {
  pIn: Float32Array;
  pOut: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  b1: number;
  b2: number;
  lrT: number;
  epsT: number;
}): void {
  const { pIn, pOut, g, m, v, b1, b2, lrT, epsT } = o;
  const a1 = 1 - b1;
  const a2 = 1 - b2;
  const n = pIn.length;
  for (let j = 0; j < n; j += 1) {
    const gj = g[j];
    const mj = b1 * m[j] + a1 * gj;
    const vj = b2 * v[j] + a2 * gj * gj;
    m[j] = mj;
    v[j] = vj;
    pOut[j] = pIn[j] - (lrT * mj) / (Math.sqrt(vj) + epsT);
  }
}

/**
 * The float32 storage of a tensor as a writable view, on backends whose memory JavaScript can reach
 * (wasm heap, cpu arrays); undefined elsewhere. Relies on tfjs 4.22 internals, pinned in package.json.
 */
export function hostView(t: tf.Tensor): Float32Array | undefined {
  if (t.dtype !== "float32") return undefined;
  const name = tf.getBackend();
  const backend = tf.backend() as unknown as {
    dataIdMap?: { get(id: object): { memoryOffset: number } | undefined };
    wasm?: { HEAPF32: Float32Array };
    data?: { get(id: object): { values?: unknown } | undefined };
  };
  if (name === "wasm" && backend.dataIdMap && backend.wasm) {
    const info = backend.dataIdMap.get(t.dataId);
    // Read the heap view now: a heap growth since the last call replaces the buffer.
    return info ? new Float32Array(backend.wasm.HEAPF32.buffer, info.memoryOffset, t.size) : undefined;
  }
  if (name === "cpu" && backend.data) {
    const values = backend.data.get(t.dataId)?.values;
    return values instanceof Float32Array && values.length === t.size ? values : undefined;
  }
  return undefined;
}

/** The wasm backend's memory (tfjs 4.22 internals, pinned in package.json), or undefined. */
function wasmMemory(): object | undefined {
  // The plain build exports its memory; the threaded one (wasm-threads.ts) imports a shared memory it keeps as wasmMemory.
  const backend = tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } };
  const memory = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  return isWasmMemory(memory) ? memory : undefined;
}

/**
 * A new float32 tensor of `t`'s shape on the wasm heap, not zeroed: Adam writes every number of it.
 * tf.zerosLike would first fill it (≈ 6 ms a stock step at the Yelp shape, for the 7 M numbers
 * updated out of place).
 */
function heapTensorLike(t: tf.Tensor): tf.Tensor {
  const backend = tf.backend() as unknown as { makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo };
  return tf.engine().makeTensorFromTensorInfo(backend.makeOutput([...t.shape], "float32"));
}

/** Byte offset of a float32 tensor's data on the wasm heap. */
function heapOffset(t: tf.Tensor): number {
  const backend = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } | undefined } };
  const info = backend.dataIdMap.get(t.dataId);
  if (!info || t.dtype !== "float32") throw new Error("Invariant failed: Adam's tensors must be float32 on the wasm heap");
  return info.memoryOffset;
}
