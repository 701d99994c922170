/**
 * The two VAEs of VCM (docs/model.md §1): parameter shapes, encoders and decoders (initial values: params.ts).
 * VAEx: x → [I → hiddenX] tanh → (μ, log σ²) ∈ R^K; z → [K → hiddenX] tanh → [hiddenX → I].
 * VAEy: y → [V → hiddenY] tanh → (μ, log σ²) ∈ R^K; r → [K → V].
 */
import * as tf from "@tensorflow/tfjs";
import type { VcmModelConfig } from "../../config.ts";
import { fusedReparameterise, gaussianKernelsEnabled, linear, sliceColumns, sparseLinear, takeRows, type SparseBatchTensors } from "../../runtime/index.ts";
import type { ParamSpec, Params } from "../params.ts";
import type { Side } from "../../types.ts";

/** The parameters of VAEx (`x.*`) and VAEy (`y.*`) for the given sizes. */
export function paramSpecs(options: { numItems: number; numWords: number; config: VcmModelConfig }): ParamSpec[] {
  const { numItems: i, numWords: v, config: c } = options;
  const k = c.latentDim;
  return [
    { name: "x.enc.W", shape: [i, c.hiddenX], itemAxis: 0 },
    { name: "x.enc.b", shape: [c.hiddenX] },
    { name: "x.mu.W", shape: [c.hiddenX, k] },
    { name: "x.mu.b", shape: [k] },
    { name: "x.logvar.W", shape: [c.hiddenX, k] },
    { name: "x.logvar.b", shape: [k] },
    { name: "x.dec.W", shape: [k, c.hiddenX] },
    { name: "x.dec.b", shape: [c.hiddenX] },
    { name: "x.out.W", shape: [c.hiddenX, i], itemAxis: 1 },
    { name: "x.out.b", shape: [i], itemAxis: 0 },
    { name: "y.enc.W", shape: [v, c.hiddenY] },
    { name: "y.enc.b", shape: [c.hiddenY] },
    { name: "y.mu.W", shape: [c.hiddenY, k] },
    { name: "y.mu.b", shape: [k] },
    { name: "y.logvar.W", shape: [c.hiddenY, k] },
    { name: "y.logvar.b", shape: [k] },
    { name: "y.out.W", shape: [k, v] },
    { name: "y.out.b", shape: [v] },
  ];
}

function p<T extends tf.Tensor>(params: Params, name: string): T {
  const t = params.get(name);
  if (!t) throw new Error(`Invariant failed: parameter ${name} is missing`);
  return t as T;
}

/** Encoder of one side: a sparse input batch → (μ, log σ²), each rows × K. */
export function encode(options: { params: Params; side: Side; input: SparseBatchTensors }): { mu: tf.Tensor2D; logVar: tf.Tensor2D } {
  const { params, side, input } = options;
  const h = tf.tanh(sparseLinear(input, p(params, `${side}.enc.W`), p(params, `${side}.enc.b`)));
  return {
    mu: linear(h, p(params, `${side}.mu.W`), p(params, `${side}.mu.b`)),
    logVar: linear(h, p(params, `${side}.logvar.W`), p(params, `${side}.logvar.b`)),
  };
}

/**
 * μ of rows that are users' inputs with one column deleted, from each user's first layer: for
 * a = x̂·W + b and x ∖ j, the first layer is (‖x‖ (a − b) − x_j W[j]) / ‖x ∖ j‖ + b, so a deleted row
 * costs a row of W instead of a pass over the input (inference only). Row r of the output is user
 * `user[r]` of `input` scaled by `scale[r]` = ‖x‖ / ‖x ∖ j‖, minus `weight[r]` = x_j / ‖x ∖ j‖ times
 * row `column[r]` of W (scale 1, weight 0: the whole input; both 0: an emptied input, a = b).
 */
export function encodeMeanWithout(options: {
  params: Params;
  side: Side;
  input: SparseBatchTensors;
  user: Int32Array;
  column: Int32Array;
  scale: Float32Array;
  weight: Float32Array;
}): tf.Tensor2D {
  const { params, side, input } = options;
  const w = p<tf.Tensor2D>(params, `${side}.enc.W`);
  const b = p<tf.Tensor1D>(params, `${side}.enc.b`);
  const rows = options.user.length;
  const withoutBias = tf.sub(sparseLinear(input, w, b), b) as tf.Tensor2D;
  const users = tf.mul(takeRows(withoutBias, tf.tensor1d(options.user, "int32")), tf.tensor2d(options.scale, [rows, 1]));
  const deleted = tf.mul(takeRows(w, tf.tensor1d(options.column, "int32")), tf.tensor2d(options.weight, [rows, 1]));
  const h = tf.tanh(tf.add(tf.sub(users, deleted), b)) as tf.Tensor2D;
  return linear(h, p(params, `${side}.mu.W`), p(params, `${side}.mu.b`));
}

/** z = μ + ε ⊙ e^{½ log σ²} (the reparameterisation trick; ε is drawn by the caller from its seed). */
export function reparameterise(options: { mu: tf.Tensor2D; logVar: tf.Tensor2D; eps: tf.Tensor2D }): tf.Tensor2D {
  if (gaussianKernelsEnabled()) return fusedReparameterise(options);
  return tf.add(options.mu, tf.mul(options.eps, tf.exp(tf.mul(0.5, options.logVar))));
}

/** What a side's output layer reads: VAEx's decoder hidden layer tanh(z · W + b) (what every item block's logits share), or z itself for VAEy (no hidden layer). */
export function decodeHidden(options: { params: Params; side: Side; z: tf.Tensor2D }): tf.Tensor2D {
  const { params, side, z } = options;
  if (side === "y") return z;
  return tf.tanh(linear(z, p(params, "x.dec.W"), p(params, "x.dec.b")));
}

/** A side's output layer, hidden × I (VAEx) or K × V (VAEy), and its bias (a sampled softmax gathers their columns). */
export function outputLayer(params: Params, side: Side): { weight: tf.Tensor2D; bias: tf.Tensor1D } {
  return { weight: p(params, `${side}.out.W`), bias: p(params, `${side}.out.b`) };
}

/** Decoder of one side: latent codes → logits over items (VAEx, one hidden layer) or words (VAEy, none). */
export function decode(options: { params: Params; side: Side; z: tf.Tensor2D }): tf.Tensor2D {
  const { weight, bias } = outputLayer(options.params, options.side);
  return linear(decodeHidden(options), weight, bias);
}

/** Logits of items [start, end) from the decoder's hidden layer (the whole output layer when the block is every item, as decode computes them). */
export function decodeItemBlock(options: { params: Params; hidden: tf.Tensor2D; start: number; end: number }): tf.Tensor2D {
  const { hidden, start, end } = options;
  const { weight, bias } = outputLayer(options.params, "x");
  if (start === 0 && end === bias.shape[0]) return linear(hidden, weight, bias);
  return linear(hidden, sliceColumns(weight, start, end - start), tf.slice(bias, [start], [end - start]));
}
