/**
 * Where evaluation's top k runs, so that only k numbers per row come back from the backend: the
 * native kernel on wasm (native-kernels.ts TOP_K_KERNEL), tf.topk on a GPU, else on the host from
 * the full row of scores.
 */
import * as tf from "@tensorflow/tfjs";
import { nativeTopKEnabled, TOP_K_KERNEL } from "./native-kernels.ts";

/** Where the top k of a chunk of scores is taken. */
export type TopKPlace = "native" | "device" | "host";

/** The place for the backend in use now. */
export function topKPlace(): TopKPlace {
  return nativeTopKEnabled() ? "native" : tf.getBackend() === "webgpu" ? "device" : "host";
}

/**
 * The k best columns of each row of `logits`, best first, skipping each row's excluded columns (given
 * as CSR indptr and columns, and as (row, column) pairs), as a rows × k int32 tensor padded with −1.
 */
export function topKOnBackend(o: {
  place: Exclude<TopKPlace, "host">;
  logits: tf.Tensor2D;
  excluded: { indptr: Int32Array; columns: Int32Array; positions: Int32Array };
  k: number;
}): tf.Tensor {
  const { logits, excluded, k } = o;
  return tf.tidy(() => {
    if (o.place === "native") {
      return tf.engine().runKernel(
        TOP_K_KERNEL,
        { scores: logits, indptr: tf.tensor1d(excluded.indptr, "int32"), excluded: tf.tensor1d(excluded.columns, "int32") },
        { k },
      ) as tf.Tensor;
    }
    // On a GPU: excluded items to −∞, then the top k there; −∞ in the result marks "fewer than k left".
    const positions = tf.tensor2d(excluded.positions, [excluded.columns.length, 2], "int32");
    const mask = tf.scatterND(positions, tf.ones([excluded.columns.length]), logits.shape);
    const masked = tf.where(tf.greater(mask, 0), tf.fill(logits.shape, Number.NEGATIVE_INFINITY), logits);
    const { values, indices } = tf.topk(masked, k);
    return tf.where(tf.equal(values, Number.NEGATIVE_INFINITY), tf.fill(indices.shape, -1, "int32"), indices);
  });
}
