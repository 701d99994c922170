/**
 * The optimiser of a baseline's networks (`baselineOptimizer`): the project's Adam (adam.ts), or RMSprop
 * (Tieleman and Hinton, "Lecture 6.5 — rmsprop: divide the gradient by a running average of its recent
 * magnitude", COURSERA: Neural Networks for Machine Learning, 2012), which DeepCoNN's paper trains with.
 */
import * as tf from "@tensorflow/tfjs";
import { Adam } from "../../runtime/index.ts";
import type { BaselineConfig } from "../../config.ts";

/** What the baselines' trainers need from an optimiser: one update over a fixed list of tensors. */
export interface NetworkOptimizer {
  /**
   * Applies one update and returns the parameters after it, in the order given: the same tensors
   * changed in place where the optimiser can, new ones otherwise (the old ones are then disposed).
   * The caller keeps what it returns.
   */
  update(params: ReadonlyArray<tf.Tensor>, grads: ReadonlyArray<tf.Tensor>): tf.Tensor[];
  /** Frees the optimiser's state (the parameters stay with the caller). */
  dispose(): void;
}

export interface RmsPropOptions {
  readonly learningRate: number;
  /** Decay ρ of the running mean of squared gradients (the lecture's 0.9). */
  readonly decay?: number;
  /** ε added to the root mean square, so a parameter without gradient so far takes no step. */
  readonly epsilon?: number;
}

/** RMSprop without momentum: v ← ρ v + (1 − ρ) g², θ ← θ − lr · g / (√v + ε), per entry. */
export class RmsProp implements NetworkOptimizer {
  private readonly lr: number;
  private readonly rho: number;
  private readonly eps: number;
  private readonly meanSquares: tf.Tensor[];

  constructor(shapes: ReadonlyArray<ReadonlyArray<number>>, options: RmsPropOptions) {
    this.lr = options.learningRate;
    this.rho = options.decay ?? 0.9;
    this.eps = options.epsilon ?? 1e-8;
    this.meanSquares = shapes.map((shape) => tf.zeros([...shape]));
  }

  update(params: ReadonlyArray<tf.Tensor>, grads: ReadonlyArray<tf.Tensor>): tf.Tensor[] {
    return params.map((param, i) => {
      const [v, next] = tf.tidy(() => {
        const g = grads[i];
        const v1 = tf.add(tf.mul(this.meanSquares[i], this.rho), tf.mul(tf.square(g), 1 - this.rho));
        return [v1, tf.sub(param, tf.mul(tf.div(g, tf.add(tf.sqrt(v1), this.eps)), this.lr))];
      });
      this.meanSquares[i].dispose();
      this.meanSquares[i] = v;
      param.dispose();
      return next;
    });
  }

  dispose(): void {
    tf.dispose(this.meanSquares);
  }
}

/** The optimiser `config.baselineOptimizer` names, at `config.learningRate`, for these parameters. */
export function networkOptimizer(params: ReadonlyArray<tf.Tensor>, config: BaselineConfig): NetworkOptimizer {
  switch (config.baselineOptimizer) {
    case "adam":
      return new Adam(
        params.map((t) => t.size),
        { learningRate: config.learningRate },
      );
    case "rmsprop":
      return new RmsProp(
        params.map((t) => t.shape),
        { learningRate: config.learningRate },
      );
    default: {
      const never: never = config.baselineOptimizer;
      throw new Error(`Invariant failed: unknown optimiser ${String(never)}`);
    }
  }
}
