/**
 * Log-softmax reads of rows that differ a little from whole rows, through a large output layer, on AMX
 * bfloat16 tiles (native/bf16_logits.c): the exact deletion effects of explanations (models/vcm/
 * deletion.ts) decode, per user, the whole row and the row minus each column asked for, hundreds of
 * rows a call. Only each row's change from its whole row goes through bfloat16 (its logits are the whole
 * row's plus the change times the layer), so a read's error is ≈ 2⁻⁸ of that change, not of the
 * logits; the whole rows themselves are summed from split parts to ≈ 2⁻¹⁶ (docs/model.md §1, after the
 * explanations).
 * Where it is not on (no AMX, no addon, VCM_BF16_DELETIONS=off, a small layer), callers use float32.
 */
import * as tf from "@tensorflow/tfjs";
import { floatOffset, nativeBf16Kernels, type WasmBackendInternals } from "./native-kernels.ts";

/**
 * Weights (hidden × items) from which a layer's deletion products go through bfloat16: below it the
 * float32 product is cheap (a 600 × 1,700 layer: ≈ 2 MFLOP a row) and the answers stay float32's.
 */
export const BF16_MIN_LAYER_WEIGHTS = 1 << 20;

/** Whether the configuration allows the bfloat16 path (VCM_BF16_DELETIONS; backend.ts sets it at start). */
const state = { allowed: true };

/** Allows or forbids the bfloat16 path for this process (AppConfig.bf16Deletions). */
export function allowBf16Deletions(allowed: boolean): void {
  state.allowed = allowed;
}

/** Whether the AMX bfloat16 path is allowed and available in this process, whatever the layer. */
export function bf16DeletionsAvailable(): boolean {
  return state.allowed && nativeBf16Kernels() !== undefined;
}

/** An output layer's weights as the AMX tiles read them: hi = bf16(W), lo = bf16(W − hi), 2 bytes a weight each. */
export interface PackedLayer {
  readonly hi: ArrayBuffer;
  readonly lo: ArrayBuffer;
  /** Rows (hidden units) and columns (items) of the layer. */
  readonly k: number;
  readonly n: number;
}

/**
 * The layer packed for deltaLogSoftmax, or undefined where the bfloat16 path is not allowed, not available,
 * or the layer is under BF16_MIN_LAYER_WEIGHTS. A copy: the caller keeps it only while the weights cannot change.
 */
export function packLayer(weight: tf.Tensor2D): PackedLayer | undefined {
  const kernels = nativeBf16Kernels();
  if (kernels === undefined || !state.allowed || weight.size < BF16_MIN_LAYER_WEIGHTS || weight.dtype !== "float32") return undefined;
  const [k, n] = weight.shape;
  const bytes = kernels.packedBytes(k, n);
  const layer = { hi: new ArrayBuffer(bytes), lo: new ArrayBuffer(bytes), k, n };
  kernels.pack(floatOffset(tf.backend() as unknown as WasmBackendInternals, weight), k, n, layer.hi, layer.lo);
  return layer;
}

/**
 * For rows of `hidden` (m × k, the decoder's last hidden layer) and `base[r]`, the row whose logits row
 * r is read as a change from (a whole row is its own base; bases are whole rows): each row's
 * log Σ_j exp(l_rj), and l_{readRows[q], readItems[q]} for each read, with l = hidden · W + bias and W
 * the packed layer. Only while bf16DeletionsAvailable().
 */
export function deltaLogSoftmax(o: {
  hidden: tf.Tensor2D;
  layer: PackedLayer;
  bias: tf.Tensor1D;
  base: Int32Array;
  readRows: Int32Array;
  readItems: Int32Array;
}): { picked: Float32Array; lse: Float32Array } {
  const kernels = nativeBf16Kernels();
  if (kernels === undefined || !state.allowed) throw new Error("Invariant failed: deltaLogSoftmax called where bf16DeletionsAvailable() is false");
  const { k, n, hi, lo } = o.layer;
  if (o.hidden.shape[1] !== k || o.bias.shape[0] !== n) throw new Error(`Invariant failed: hidden ${o.hidden.shape} and bias ${o.bias.shape} do not fit a ${k} × ${n} layer`);
  const backend = tf.backend() as unknown as WasmBackendInternals;
  const m = o.hidden.shape[0];
  const picked = new Float32Array(o.readRows.length);
  const lse = new Float32Array(m);
  kernels.deltaLogSoftmax({
    hi,
    lo,
    base: o.base,
    readRows: o.readRows,
    readItems: o.readItems,
    picked,
    lse,
    m,
    k,
    n,
    hOff: floatOffset(backend, o.hidden),
    biasOff: floatOffset(backend, o.bias),
  });
  return { picked, lse };
}
