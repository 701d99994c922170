/**
 * CDL: Hao Wang, Naiyan Wang and Dit-Yan Yeung, "Collaborative Deep Learning for Recommender Systems",
 * KDD 2015 (arXiv 1409.2944). A stacked denoising autoencoder (SDAE) over the bag of words, whose
 * middle layer f_e(y) is the mean of the text side's latent factor, coupled with PMF with confidence
 * weights (§3.2's generative process). Training maximises the MAP objective of §3.3 in its λs → ∞ form
 * (deterministic layers), minimised here as
 *   Σ_ui c_ui/2 (x_ui − u_uᵀv_i)² + λ/2 Σ_u ‖u_u − f_e(y_u)‖² + λv/2 Σ_i ‖v_i‖²
 *   + λn/2 Σ_u ‖f_r(ỹ_u) − y_u‖² + λw/2 Σ_l ‖W_l‖²,
 * by §3.3's alternation: the closed-form coordinate-ascent updates of u and v (its update equations
 * for u_i and v_j, roles swapped: the text is on the user side here), then back-propagation for the
 * SDAE's weights with the factors fixed. Prediction (§3.4): r̂ = u_uᵀv_i in-matrix, f_e(y_u)ᵀv_i out of
 * matrix (mode "vcm-cd"). Departures, all ours: the coupling term uses f_e of the clean words y_u
 * (the paper's X_{L/2} comes from the corrupted input ỹ_u, which the reconstruction still uses), no
 * layer-wise pretraining, no dropout, Adam instead of plain gradient steps, and words scaled to [0, 1]
 * by each user's largest count.
 * Layers (§4.2, as we recall the setting): words → 200 → K → 200 → words, sigmoid throughout. With
 * `tiedWeights` (the default), the last decoder layer's matrix is the first encoder layer's transpose,
 * W_dec2 = W_enc1ᵀ, as the authors' code ties it (js05212/CollaborativeDeepLearning-TensorFlow,
 * lib/cdl.py: W_x = transpose(W1)); the K → 200 layer keeps its own matrix there too.
 */
import * as tf from "@tensorflow/tfjs";
import type { CdlConfig } from "../../config.ts";
import { linear, sparseLinear, type SparseBatchTensors } from "../../runtime/index.ts";
import type { ParamSpec, Params } from "../params.ts";
import { collaborativeBaseline, type NetworkTerms, type TextNetwork } from "./collaborative.ts";

function w(params: Params, name: string): tf.Tensor2D {
  return params.get(`cdl.${name}.W`) as tf.Tensor2D;
}
function b(params: Params, name: string): tf.Tensor1D {
  return params.get(`cdl.${name}.b`) as tf.Tensor1D;
}

/** The SDAE's encoder: its middle layer f_e(y) ∈ (0, 1)^K. */
function encodeWords(params: Params, input: SparseBatchTensors): tf.Tensor2D {
  const h = tf.sigmoid(sparseLinear(input, w(params, "enc1"), b(params, "enc1")));
  return tf.sigmoid(linear(h, w(params, "enc2"), b(params, "enc2")));
}

export const CDL_NETWORK: TextNetwork = {
  specs: ({ numWords, config }: { numWords: number; config: CdlConfig }): ParamSpec[] => {
    const h = config.sdaeHidden;
    const k = config.baselineLatentDim;
    const specs: ParamSpec[] = [
      { name: "cdl.enc1.W", shape: [numWords, h] },
      { name: "cdl.enc1.b", shape: [h] },
      { name: "cdl.enc2.W", shape: [h, k] },
      { name: "cdl.enc2.b", shape: [k] },
      { name: "cdl.dec1.W", shape: [k, h] },
      { name: "cdl.dec1.b", shape: [h] },
      { name: "cdl.dec2.W", shape: [h, numWords] },
      { name: "cdl.dec2.b", shape: [numWords] },
    ];
    return config.tiedWeights ? specs.filter((s) => s.name !== "cdl.dec2.W") : specs;
  },
  corruption: (config) => config.sdaeCorruption,
  usesEps: false,
  encode: ({ params, clean }) => encodeWords(params, clean),
  terms: ({ params, config, clean, noisy, target, u }): NetworkTerms => {
    const middle = encodeWords(params, noisy);
    const h = tf.sigmoid(linear(middle, w(params, "dec1"), b(params, "dec1")));
    const dec2 = config.tiedWeights ? (tf.transpose(w(params, "enc1")) as tf.Tensor2D) : w(params, "dec2");
    const reconstruction = tf.sigmoid(linear(h, dec2, b(params, "dec2")));
    // λn/2 ‖f_r(ỹ) − y‖²: the SDAE's reconstruction of the clean words from the corrupted ones.
    const reconY = tf.mul(config.sdaeReconWeight / 2, tf.sum(tf.squaredDifference(reconstruction, target), 1)) as tf.Tensor1D;
    const fe = noisy === clean ? middle : encodeWords(params, clean);
    // λ/2 ‖u − f_e(y)‖²: the user factor's Gaussian around its text encoding.
    const klCrossX = tf.mul(config.textOffsetReg / 2, tf.sum(tf.squaredDifference(u, fe), 1)) as tf.Tensor1D;
    return { reconY, klPriorY: tf.zerosLike(reconY), klCrossX };
  },
};

/** The CDL baseline (variant "cdl"). */
export const cdl = collaborativeBaseline(CDL_NETWORK);
