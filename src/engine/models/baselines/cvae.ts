/**
 * CVAE: Xiaopeng Li and James She, "Collaborative Variational Autoencoder for Recommender Systems",
 * KDD 2017. A VAE over the bag of words whose latent z (inference network q(z|y), generation network
 * p(y|z)) is the mean of the text side's factor, u_u ~ N(z_u, λ⁻¹ I), with PMF and confidence weights
 * for the clicks (§3.1's generative process). The ELBO of §3.2, minimised here as
 *   Σ_ui c_ui/2 (x_ui − u_uᵀv_i)² + λ/2 Σ_u E_q ‖u_u − z_u‖² + λv/2 Σ_i ‖v_i‖²
 *   + λr Σ_u (−E_q log p(y_u|z_u) + KL(q(z|y_u) ‖ N(0, I))) + λw/2 Σ_l ‖W_l‖²,
 * with E_q ‖u − z‖² = ‖u − μ‖² + Σ_k σ_k² in closed form, is optimised by §3.3's EM-style alternation:
 * u and v in closed form given E_q[z] = μ (its update rules, roles swapped: the text is on the user
 * side here), then the networks by SGVB (reparameterised z = μ + σ ⊙ ε) with u and v fixed. Prediction
 * (§3.4): u_uᵀv_i in-matrix, μ(y_u)ᵀv_i out of matrix (mode "vcm-cd"). The words' likelihood is
 * Bernoulli on counts scaled to [0, 1] by each user's largest count (sigmoid outputs, cross-entropy);
 * layers words → 200 → 100 → K and back, sigmoid, as we recall §4's setting; no pretraining (ours).
 * With `tiedWeights` (the default) the generation network's two outer matrices are the inference
 * network's transposes, W_dec2 = W_enc2ᵀ and W_out = W_enc1ᵀ, as the authors' code ties them
 * (eelxpeng/CollaborativeVAE, lib/cvae.py: gen W1 = transpose(rec W2), W_x = transpose(rec W1)); the
 * K → 100 layer keeps its own matrix there too. That code also reuses the first encoder layer's bias
 * in the generation network; here every layer keeps its own bias.
 */
import * as tf from "@tensorflow/tfjs";
import type { CvaeConfig } from "../../config.ts";
import { klToStandardNormal } from "../vcm/losses.ts";
import { linear, sparseLinear, type SparseBatchTensors } from "../../runtime/index.ts";
import type { ParamSpec, Params } from "../params.ts";
import { collaborativeBaseline, type NetworkTerms, type TextNetwork } from "./collaborative.ts";

function w(params: Params, name: string): tf.Tensor2D {
  return params.get(`cvae.${name}.W`) as tf.Tensor2D;
}
function b(params: Params, name: string): tf.Tensor1D {
  return params.get(`cvae.${name}.b`) as tf.Tensor1D;
}

/** The inference network q(z|y) = N(μ, diag e^{log σ²}). */
function infer(params: Params, input: SparseBatchTensors): { mu: tf.Tensor2D; logVar: tf.Tensor2D } {
  const h1 = tf.sigmoid(sparseLinear(input, w(params, "enc1"), b(params, "enc1")));
  const h2 = tf.sigmoid(linear(h1, w(params, "enc2"), b(params, "enc2")));
  return { mu: linear(h2, w(params, "mu"), b(params, "mu")), logVar: linear(h2, w(params, "logvar"), b(params, "logvar")) };
}

export const CVAE_NETWORK: TextNetwork = {
  specs: ({ numWords, config }: { numWords: number; config: CvaeConfig }): ParamSpec[] => {
    const [outer, inner, k] = [config.cvaeHiddenOuter, config.cvaeHiddenInner, config.baselineLatentDim];
    const specs: ParamSpec[] = [
      { name: "cvae.enc1.W", shape: [numWords, outer] },
      { name: "cvae.enc1.b", shape: [outer] },
      { name: "cvae.enc2.W", shape: [outer, inner] },
      { name: "cvae.enc2.b", shape: [inner] },
      { name: "cvae.mu.W", shape: [inner, k] },
      { name: "cvae.mu.b", shape: [k] },
      { name: "cvae.logvar.W", shape: [inner, k] },
      { name: "cvae.logvar.b", shape: [k] },
      { name: "cvae.dec1.W", shape: [k, inner] },
      { name: "cvae.dec1.b", shape: [inner] },
      { name: "cvae.dec2.W", shape: [inner, outer] },
      { name: "cvae.dec2.b", shape: [outer] },
      { name: "cvae.out.W", shape: [outer, numWords] },
      { name: "cvae.out.b", shape: [numWords] },
    ];
    // Tied: the generation network's outer matrices are the inference network's transposes, not weights of their own.
    return config.tiedWeights ? specs.filter((s) => s.name !== "cvae.dec2.W" && s.name !== "cvae.out.W") : specs;
  },
  corruption: () => 0,
  usesEps: true,
  encode: ({ params, clean }) => infer(params, clean).mu,
  terms: ({ params, config, clean, target, u, eps }): NetworkTerms => {
    const { mu, logVar } = infer(params, clean);
    const z = tf.add(mu, tf.mul(eps!, tf.exp(tf.mul(0.5, logVar)))) as tf.Tensor2D;
    const h1 = tf.sigmoid(linear(z, w(params, "dec1"), b(params, "dec1")));
    const tied = (encoder: string): tf.Tensor2D => tf.transpose(w(params, encoder)) as tf.Tensor2D;
    const h2 = tf.sigmoid(linear(h1, config.tiedWeights ? tied("enc2") : w(params, "dec2"), b(params, "dec2")));
    const logits = linear(h2, config.tiedWeights ? tied("enc1") : w(params, "out"), b(params, "out"));
    // −log p(y|z) for Bernoulli outputs: Σ_w softplus(l_w) − y_w l_w.
    const crossEntropy = tf.sum(tf.sub(tf.softplus(logits), tf.mul(target, logits)), 1);
    const reconY = tf.mul(config.cvaeTextWeight, crossEntropy) as tf.Tensor1D;
    const klPriorY = tf.mul(config.cvaeTextWeight, klToStandardNormal(mu, logVar)) as tf.Tensor1D;
    // λ/2 E_q ‖u − z‖² = λ/2 (‖u − μ‖² + Σ σ²).
    const klCrossX = tf.mul(config.textOffsetReg / 2, tf.add(tf.sum(tf.squaredDifference(u, mu), 1), tf.sum(tf.exp(logVar), 1))) as tf.Tensor1D;
    return { reconY, klPriorY, klCrossX };
  },
};

/** The CVAE baseline (variant "cvae"). */
export const cvae = collaborativeBaseline(CVAE_NETWORK);
