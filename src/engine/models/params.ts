/**
 * Named weight tensors, the state every trained model keeps (VCM's two VAEs and the baselines alike),
 * so the best epoch's copy and the checkpoints work the same for all of them.
 */
import * as tf from "@tensorflow/tfjs";
import { ErrorCode, UserError } from "../../errors.ts";
import { Rng } from "../random.ts";
import type { NamedWeight } from "../types.ts";

/** Name and shape of every trainable tensor, in a fixed order (also the checkpoint order). */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly [number] | readonly [number, number];
  /** The axis that has one entry per item (it grows when items are appended to the dataset); absent: the shape does not depend on the items. */
  readonly itemAxis?: 0 | 1;
}

/** Parameters by name; weights are 2-D, biases 1-D. */
export type Params = Map<string, tf.Tensor>;

/** Glorot-uniform weights and zero biases from the config's seed, identical on every backend. */
export function initialValues(specs: ReadonlyArray<ParamSpec>, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return specs.map((spec) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(size);
    if (spec.shape.length === 2) {
      const limit = Math.sqrt(6 / (spec.shape[0] + spec.shape[1]));
      for (let j = 0; j < size; j += 1) out[j] = (2 * rng.next() - 1) * limit;
    }
    return out;
  });
}

/** Tensors of a snapshot's weights for `specs`, refusing a checkpoint whose weight is missing or of another shape. */
export function paramsFromWeights(specs: ReadonlyArray<ParamSpec>, weights: ReadonlyArray<NamedWeight>): Params {
  const byName = new Map(weights.map((w) => [w.name, w]));
  const params: Params = new Map();
  for (const spec of specs) {
    const w = byName.get(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!w || w.values.length !== size || w.shape.join("x") !== spec.shape.join("x")) {
      params.forEach((t) => t.dispose());
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `the checkpoint's weight ${spec.name} is missing or not of shape ${spec.shape.join(" × ")}; the checkpoint is damaged`,
      );
    }
    params.set(spec.name, tf.tensor(Float32Array.from(w.values), [...spec.shape]));
  }
  return params;
}

/**
 * A warm start's initial values: the weights of a model that knew the first `knownItems` items, with
 * the entries of the items appended since (along each spec's itemAxis) as a fresh start with `seed`
 * would create them (initialValues), every other number copied bit for bit.
 */
export function grownValues(o: { specs: ReadonlyArray<ParamSpec>; weights: ReadonlyArray<NamedWeight>; knownItems: number; seed: number }): Float32Array[] {
  const byName = new Map(o.weights.map((w) => [w.name, w]));
  const fresh = initialValues(o.specs, o.seed);
  return o.specs.map((spec, i) => {
    const saved = [...spec.shape];
    if (spec.itemAxis !== undefined) saved[spec.itemAxis] = o.knownItems;
    const w = byName.get(spec.name);
    if (!w || w.values.length !== saved.reduce((a, b) => a * b, 1) || w.shape.join("x") !== saved.join("x")) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `the saved model's weight ${spec.name} is missing or not of shape ${saved.join(" × ")}; it cannot be continued, train from scratch`,
      );
    }
    const out = fresh[i];
    if (spec.itemAxis === 1) {
      // Row-major [rows, items]: each row's known items come first, the new ones keep their fresh values.
      const [rows, cols] = spec.shape as readonly [number, number];
      for (let r = 0; r < rows; r += 1) out.set(w.values.subarray(r * o.knownItems, (r + 1) * o.knownItems), r * cols);
    } else {
      // Axis 0 (or none): the known entries are one prefix.
      out.set(w.values, 0);
    }
    return out;
  });
}

/** Copies of `params` in `specs` order, as a snapshot stores them. */
export async function weightsOfParams(specs: ReadonlyArray<ParamSpec>, params: Params): Promise<NamedWeight[]> {
  return Promise.all(
    specs.map(async (spec) => ({
      name: spec.name,
      shape: [...spec.shape],
      values: Float32Array.from((await params.get(spec.name)!.data()) as Float32Array),
    })),
  );
}
