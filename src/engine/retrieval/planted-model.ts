/**
 * A VCM model with planted item structure at any catalogue size, for the retrieval benchmark
 * (bench:scale) and tests: the output layer's item rows are low-rank, W_i = A·u_i plus noise, as a trained
 * decoder's rows are (items clicked together point the same way), and its biases spread as item
 * popularity does; the other weights are Gaussian, scaled so that h_u spreads as a trained decoder's does.
 * It is never trained: only its ranking is asked for.
 */
import * as tf from "@tensorflow/tfjs";
import { resolveVcmConfig, type VcmConfig } from "../config.ts";
import { VcmModel } from "../models/vcm/model.ts";
import { paramSpecs } from "../models/vcm/vae.ts";
import { Rng } from "../random.ts";

/** Rank of the planted item factors u_i. */
const ITEM_RANK = 32;
/** Noise of an item's output row around A·u_i, relative to A·u_i's scale. */
const ITEM_NOISE = 0.3;
/** Standard deviation of a logit's personal part ⟨h_u, W_i⟩ and of the biases b_i (a trained decoder's logits spread over units). */
const LOGIT_SCALE = 2;

/**
 * Standard deviations that make each layer's output spread as a trained model's does (a tanh layer
 * neither saturated nor near 0, μ of unit scale): Glorot-uniform weights of an untrained model give
 * h_u ≈ 0, where only the biases would rank.
 */
function weightScale(o: { name: string; fanIn: number }): number {
  if (o.name === "x.enc.W") return 1;
  return 1 / Math.sqrt(o.fanIn);
}

/** A planted model of `items` items; each weight is made and moved to the backend one at a time, so the host holds one copy at most. */
export function plantedVcmModel(o: { items: number; words: number; seed: number; config?: Partial<VcmConfig> }): VcmModel {
  const config = resolveVcmConfig({ variant: "vcm", ...o.config });
  const specs = paramSpecs({ numItems: o.items, numWords: o.words, config });
  const rng = new Rng(o.seed);
  const hidden = config.hiddenX;
  const mixing = rng.normals(hidden * ITEM_RANK);
  const params = new Map<string, tf.Tensor>();
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.name === "x.out.W") {
      // Row-major hidden × items: column i is item i's row of the output layer; h_u's entries are ≈ ±0.6.
      const scale = LOGIT_SCALE / (0.6 * Math.sqrt(hidden * ITEM_RANK * (1 + ITEM_NOISE ** 2)));
      const factors = new Float32Array(ITEM_RANK);
      for (let i = 0; i < o.items; i += 1) {
        for (let r = 0; r < ITEM_RANK; r += 1) factors[r] = rng.normal();
        for (let h = 0; h < hidden; h += 1) {
          let dot = 0;
          for (let r = 0; r < ITEM_RANK; r += 1) dot += mixing[h * ITEM_RANK + r] * factors[r];
          values[h * o.items + i] = scale * (dot + ITEM_NOISE * Math.sqrt(ITEM_RANK) * rng.normal());
        }
      }
    } else if (spec.name === "x.out.b") {
      for (let i = 0; i < size; i += 1) values[i] = LOGIT_SCALE * rng.normal();
    } else if (spec.shape.length === 2) {
      const scale = weightScale({ name: spec.name, fanIn: spec.shape[0] });
      for (let j = 0; j < size; j += 1) values[j] = scale * rng.normal();
    }
    params.set(spec.name, tf.tensor(values, [...spec.shape]));
  }
  return VcmModel.create({ config, backend: "wasm", device: "planted", numItems: o.items, numWords: o.words, history: [], bestEpoch: 0, params });
}
