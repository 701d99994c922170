/**
 * Adam (Kingma & Ba, with PyTorch's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8) written to do less work
 * than tfjs's optimiser: on the wasm and cpu backends one fused JavaScript loop per tensor reads the
 * parameter, gradient and moments once and writes the new parameter (tfjs runs about a dozen
 * full-size kernels per tensor); elsewhere the same arithmetic runs as tensor ops.
 */
import * as tf from "@tensorflow/tfjs";

export interface AdamOptions {
  readonly learningRate: number;
  /**
   * Per tensor: true when no matMul reads it, so wasm may update it in place (wasm's matMul keeps
   * packed copies of its right operand per tensor, so those tensors are replaced instead). Default: none.
   */
  readonly inPlace?: ReadonlyArray<boolean>;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

/** Adam state for a fixed list of parameter tensors (the moments live in JavaScript memory). */
export class Adam {
  private readonly lr: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private readonly inPlace: ReadonlyArray<boolean>;
  private t = 0;

  constructor(sizes: ReadonlyArray<number>, options: AdamOptions) {
    this.lr = options.learningRate;
    this.b1 = options.beta1 ?? 0.9;
    this.b2 = options.beta2 ?? 0.999;
    this.eps = options.epsilon ?? 1e-8;
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
    this.inPlace = options.inPlace ?? sizes.map(() => false);
  }

  /** Number of updates applied so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * Applies one update and returns the parameters after it: the same tensors changed in place on cpu,
   * new tensors elsewhere (the old ones are then disposed). The caller keeps what it returns.
   */
  update(params: ReadonlyArray<tf.Tensor>, grads: ReadonlyArray<tf.Tensor>): tf.Tensor[] {
    this.t += 1;
    // θ ← θ − lr·m̂/(√v̂ + ε) equals θ ← θ − lrₜ·m/(√v + εₜ) with the bias corrections folded into lrₜ and εₜ.
    const c2 = Math.sqrt(1 - this.b2 ** this.t);
    const lrT = (this.lr * c2) / (1 - this.b1 ** this.t);
    const epsT = this.eps * c2;
    const backend = tf.getBackend();
    return params.map((param, i) => {
      const grad = grads[i];
      if (backend === "cpu" || (backend === "wasm" && this.inPlace[i])) {
        // Nothing caches values derived from these tensors (cpu never does), so the update can be in place.
        const p = hostView(param);
        const g = hostView(grad);
        if (p && g) {
          fusedAdam({ pIn: p, pOut: p, g, m: this.m[i], v: this.v[i], b1: this.b1, b2: this.b2, lrT, epsT });
          return param;
        }
      } else if (backend === "wasm") {
        // wasm's matMul (XNNPACK) keeps weights packed per tensor, so updated weights go to a new tensor.
        const out = tf.zerosLike(param);
        // Views are taken after the allocation, which may have grown (and so replaced) the heap.
        const [pIn, pOut, g] = [hostView(param), hostView(out), hostView(grad)];
        if (pIn && pOut && g) {
          fusedAdam({ pIn, pOut, g, m: this.m[i], v: this.v[i], b1: this.b1, b2: this.b2, lrT, epsT });
          param.dispose();
          return out;
        }
        out.dispose();
      }
      return this.tensorUpdate({ param, grad, i, lrT, epsT });
    });
  }

  private tensorUpdate(o: { param: tf.Tensor; grad: tf.Tensor; i: number; lrT: number; epsT: number }): tf.Tensor {
    const { param, grad, i, lrT, epsT } = o;
    const next = tf.tidy(() => {
      const m = tf.add(tf.mul(tf.tensor(this.m[i], param.shape), this.b1), tf.mul(grad, 1 - this.b1));
      const v = tf.add(tf.mul(tf.tensor(this.v[i], param.shape), this.b2), tf.mul(tf.square(grad), 1 - this.b2));
      this.m[i].set(m.dataSync());
      this.v[i].set(v.dataSync());
      return tf.sub(param, tf.mul(tf.div(m, tf.add(tf.sqrt(v), epsT)), lrT));
    });
    param.dispose();
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
