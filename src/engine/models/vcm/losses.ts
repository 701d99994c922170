/**
 * The terms of the VCM objective (docs/model.md §1), one function per equation, each per user.
 * The objective is maximised in the paper; here every term is returned as a quantity to minimise.
 */
import * as tf from "@tensorflow/tfjs";
import type { Variant } from "../../types.ts";

import { linear, multinomialNll, takeColumns, takeRows, type SparseTarget } from "../../runtime/index.ts";

export { multinomialNll };

/** A sampled softmax's columns as tensors (sampling.ts SampledColumns; the caller disposes them). */
export interface SampledColumnTensors {
  /** The S columns (sampling.ts), gathered by takeColumns. */
  readonly columnIds: Int32Array;
  /** The same, int32, S. */
  readonly columns: tf.Tensor1D;
  /** log(N · q_j / c_j) of each drawn column, 0 for the batch's positives, S. */
  readonly correction: tf.Tensor1D;
  /** The raw target on the S columns. */
  readonly target: SparseTarget;
}

/**
 * The multinomial NLL of an output layer (hidden · W + b) under a sampled softmax: only the S chosen
 * columns of W and b are gathered and scored, each logit less its logQ correction, so the step costs
 * batch × hidden × S instead of × every column; the gradient reaches W and b through the gather.
 */
export function sampledMultinomialNll(o: { hidden: tf.Tensor2D; weight: tf.Tensor2D; bias: tf.Tensor1D; sample: SampledColumnTensors }): tf.Tensor1D {
  const { hidden, weight, bias, sample } = o;
  return tf.tidy(() => {
    const columns = sample.columns.shape[0];
    const b = tf.reshape(takeRows(tf.reshape(bias, [bias.shape[0], 1]), sample.columns), [columns]) as tf.Tensor1D;
    const logits = tf.sub(linear(hidden, takeColumns(weight, sample.columnIds), b), sample.correction) as tf.Tensor2D;
    return multinomialNll(logits, sample.target);
  });
}

/** KL(N(μ, diag e^{logσ²}) ‖ N(0, I)) = ½ Σ_k (e^{logσ²_k} + μ_k² − 1 − logσ²_k), per row. */
export function klToStandardNormal(mu: tf.Tensor2D, logVar: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.mul(0.5, tf.sum(tf.sub(tf.add(tf.exp(logVar), tf.square(mu)), tf.add(1, logVar)), 1)));
}

/**
 * KL(N(μ₁, e^{lv₁}) ‖ N(μ₂, e^{lv₂})) = ½ Σ_k (lv₂ − lv₁ + (e^{lv₁} + (μ₁ − μ₂)²) / e^{lv₂} − 1), per row
 * (the cross terms KL(qx ‖ qy) and KL(qy ‖ qx)).
 */
export function klGaussians(options: { mu1: tf.Tensor2D; logVar1: tf.Tensor2D; mu2: tf.Tensor2D; logVar2: tf.Tensor2D }): tf.Tensor1D {
  const { mu1, logVar1, mu2, logVar2 } = options;
  return tf.tidy(() => {
    const ratio = tf.mul(tf.add(tf.exp(logVar1), tf.squaredDifference(mu1, mu2)), tf.exp(tf.neg(logVar2)));
    return tf.mul(0.5, tf.sum(tf.sub(tf.add(tf.sub(logVar2, logVar1), ratio), 1), 1));
  });
}

/** ‖μx − μy‖² per row: VCM-NV's replacement for each cross KL. */
export function squaredDistance(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.squaredDifference(a, b), 1));
}

/** β after `step` optimiser steps: min(β, step / annealSteps). */
export function annealedBeta(options: { step: number; beta: number; annealSteps: number }): number {
  return Math.min(options.beta, options.step / options.annealSteps);
}

/** Per-user terms of one batch, each to be minimised (the cross terms hold ‖μx − μy‖² for vcm-nv). */
export interface LossTerms {
  readonly reconX: tf.Tensor1D;
  readonly reconY: tf.Tensor1D;
  readonly klPriorX: tf.Tensor1D;
  readonly klPriorY: tf.Tensor1D;
  readonly klCrossX: tf.Tensor1D;
  readonly klCrossY: tf.Tensor1D;
}

/** What each variant's objective optimises (vcm-od has two phases: VAEy alone, then VAEx against the frozen qy). */
export type ObjectivePart = Variant | "vcm-od-y" | "vcm-od-x";

/**
 * The negative objective averaged over the batch:
 * −Lx + β KL(qx‖N) + β KL(qx‖qy) − Ly + β KL(qy‖N) + β KL(qy‖qx), minus the terms a variant drops.
 */
export function jointLoss(options: { terms: LossTerms; beta: number; part: ObjectivePart }): tf.Scalar {
  const { terms: t, beta, part } = options;
  return tf.tidy(() => {
    const x = tf.add(t.reconX, tf.mul(beta, t.klPriorX));
    const y = tf.add(t.reconY, tf.mul(beta, t.klPriorY));
    let perUser: tf.Tensor1D;
    switch (part) {
      case "vcm":
      case "vcm-nv":
        perUser = tf.add(tf.add(x, y), tf.mul(beta, tf.add(t.klCrossX, t.klCrossY))) as tf.Tensor1D;
        break;
      case "vcm-se":
        perUser = tf.add(x, y) as tf.Tensor1D;
        break;
      case "vcm-od-y":
        perUser = y as tf.Tensor1D;
        break;
      case "vcm-od-x":
        perUser = tf.add(x, tf.mul(beta, t.klCrossX)) as tf.Tensor1D;
        break;
      case "vcm-od":
      case "popularity":
      case "cdl":
      case "cvae":
      case "deepconn":
        throw new Error(`Invariant failed: ${part} has no single joint objective`);
    }
    return tf.mean(perUser);
  });
}
