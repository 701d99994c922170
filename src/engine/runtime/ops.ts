/**
 * Layers with hand-written gradients, because the stock ones are slow or missing on the wasm
 * backend (docs/model.md §3): matMul with explicit transposes, sparse first layers without tf.gather,
 * and a multinomial likelihood that never builds a dense target.
 */
import * as tf from "@tensorflow/tfjs";
import type { SparseBatch } from "../batch.ts";
import {
  NLL_GRAD_KERNEL,
  NLL_KERNEL,
  nativeMatMulEnabled,
  nativeNllEnabled,
  nativeSoftmaxMeanEnabled,
  nativeSparseEnabled,
  SOFTMAX_MEAN_KERNEL,
  SPARSE_LINEAR_GRAD_KERNEL,
  SPARSE_LINEAR_KERNEL,
} from "./native-kernels.ts";
import { COLUMN_SUMS_KERNEL, heapColumnSumsEnabled, sparseKernelsEnabled } from "./heap-kernels.ts";

type Save = tf.GradSaveFunc;

/**
 * True where matMul takes transpose flags at full speed: the native sgemm on wasm, and GPU kernels
 * (wasm's own transposed matMul is ~10× slower than a plain one).
 */
function fastTransposes(): boolean {
  return nativeMatMulEnabled() || tf.getBackend() === "webgpu";
}

/**
 * On webgpu, sparseSegmentSum reads its segment ids synchronously inside the kernel, which fails in
 * Node (docs/model.md §3): rows are gathered with tf.gather and summed with unsortedSegmentSum there.
 */
function gatherKernels(): boolean {
  return tf.getBackend() === "webgpu";
}

/** Row indices[k] of `data` for each k (a gather; on wasm done by sparseSegmentSum, ≈ 3× faster than tf.gather). */
function gatherRows(data: tf.Tensor2D, indices: tf.Tensor1D, range: tf.Tensor1D): tf.Tensor2D {
  return gatherKernels() ? tf.gather(data, indices) : (tf.sparse.sparseSegmentSum(data, indices, range) as tf.Tensor2D);
}

/**
 * Rows indices[k] of `data` (an embedding lookup), differentiable in `data`: the gradient scatters dy
 * back with scatterND, which sums repeated rows (tf.gather's own gradient needs UnsortedSegmentSum,
 * which wasm lacks).
 */
export function takeRows(data: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  const n = indices.shape[0];
  const op = tf.customGrad((di: tf.Tensor | Save, save: tf.Tensor | Save) => {
    const d = di as tf.Tensor2D;
    // Saved, so that indices made inside a gradient's forward pass survive until its backward pass.
    (save as Save)([indices]);
    return {
      value: n === 0 ? tf.zeros([0, d.shape[1]]) : gatherRows(d, indices, tf.range(0, n, 1, "int32") as tf.Tensor1D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [n === 0 ? tf.zerosLike(d) : tf.scatterND(tf.reshape(saved[0], [n, 1]), dy, d.shape)],
    };
  });
  return op(data) as tf.Tensor2D;
}

/**
 * Columns `columns[k]` of `data` (the output layer's columns of a sampled softmax), differentiable in
 * `data`: forward and gradient both go through the (row, column) pairs, built here on the CPU (wasm's
 * Tile and Pack of int32 cost more than the product they feed), by gatherND and scatterND, which sums
 * repeated columns and needs no transpose of the whole matrix (tf.gather's own gradient needs
 * UnsortedSegmentSum, which wasm lacks).
 */
export function takeColumns(data: tf.Tensor2D, columns: Int32Array): tf.Tensor2D {
  const [rows, cols] = data.shape;
  const n = columns.length;
  const pairs = new Int32Array(2 * rows * n);
  for (let r = 0, k = 0; r < rows; r += 1) {
    for (let c = 0; c < n; c += 1, k += 2) {
      pairs[k] = r;
      pairs[k + 1] = columns[c];
    }
  }
  const indices = tf.tensor2d(pairs, [rows * n, 2], "int32");
  const op = tf.customGrad((di: tf.Tensor | Save, save: tf.Tensor | Save) => {
    // Saved, so that the pairs survive until the backward pass.
    (save as Save)([indices]);
    return {
      value: tf.reshape(tf.gatherND(di as tf.Tensor2D, indices), [rows, n]) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.scatterND(saved[0], tf.reshape(dy, [rows * n]), [rows, cols])],
    };
  });
  return op(data) as tf.Tensor2D;
}

/** a · bᵀ, transposing whichever side moves fewer numbers (wasm's transposed matMul is ~10× slower). */
export function matMulNT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (fastTransposes()) return tf.matMul(a, b, false, true);
  return tf.tidy(() => {
    const [m, k] = a.shape;
    const n = b.shape[0];
    // Either transpose b (n·k numbers), or compute (b · aᵀ)ᵀ (m·k + n·m numbers).
    if (n * k <= m * k + n * m) return tf.matMul(a, tf.transpose(b));
    return tf.transpose(tf.matMul(b, tf.transpose(a)));
  }) as tf.Tensor2D;
}

/**
 * Each row's softmax(h · w + b) mean of w's columns, Σ_j π_j w[:, j] (no gradient): through the addon's
 * kernel, one read of w for all rows (a few rows are bound by reading w: the logits and the product
 * read it once each); else the logits, the softmax and matMulNT.
 */
export function softmaxMean(h: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (!nativeSoftmaxMeanEnabled() || h.shape[0] === 0) return tf.tidy(() => matMulNT(tf.softmax(linear(h, w, b)), w));
  return tf.engine().runKernel(SOFTMAX_MEAN_KERNEL, { h, w, b }, {}) as tf.Tensor2D;
}

/** aᵀ · b, transposing whichever side moves fewer numbers. */
export function matMulTN(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (fastTransposes()) return tf.matMul(a, b, true, false);
  return tf.tidy(() => {
    const [m, k] = a.shape;
    const n = b.shape[1];
    // Either transpose a (m·k numbers), or compute (bᵀ · a)ᵀ (m·n + n·k numbers).
    if (m * k <= m * n + n * k) return tf.matMul(tf.transpose(a), b);
    return tf.transpose(tf.matMul(tf.transpose(b), a));
  }) as tf.Tensor2D;
}

/**
 * Σ over rows (a bias gradient): tfjs sums over a leading axis by transposing first, so with the native
 * sgemm a ones-row product is cheaper.
 */
export function columnSums(d: tf.Tensor2D): tf.Tensor1D {
  if (!nativeMatMulEnabled() && heapColumnSumsEnabled() && d.dtype === "float32" && d.shape[0] > 0) return tf.engine().runKernel(COLUMN_SUMS_KERNEL, { x: d }) as tf.Tensor1D;
  if (!nativeMatMulEnabled()) return tf.sum(d, 0);
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, d.shape[0]]), d), [d.shape[1]]));
}

/**
 * Whether x · W is cheaper as (Wᵀ · xᵀ)ᵀ on stock wasm while training. wasm's matMul (XNNPACK) packs
 * its right operand into a new layout at ≈ 11 ns a number the first time it sees that tensor, and
 * training gives W a new tensor each step; a transpose moves ≈ 4.4 ns a number (measured at the Yelp
 * shape, 2 threads: 114 ms plain against 73 ms transposed for 128 × 600 · 600 × 10,003). Inference
 * reuses W, whose packed copy is then kept, so it stays plain.
 */
function transposedForward(m: number, k: number, n: number): boolean {
  if (fastTransposes() || tf.getBackend() !== "wasm" || !tf.engine().isTapeOn()) return false;
  return 11 * k * n > 4.4 * (k * n + m * k + m * n) + 11 * m * k;
}

/** x · W + b with a gradient built from plain (untransposed) matMuls. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  // Decided out here: inside customGrad's forward function the tape is off.
  const transposed = transposedForward(x.shape[0], x.shape[1], w.shape[1]);
  const op = tf.customGrad((xi: tf.Tensor | Save, wi: tf.Tensor | Save, bi: tf.Tensor | Save, save: tf.Tensor | Save) => {
    const [x2, w2, b1] = [xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D];
    (save as Save)([x2, w2]);
    return {
      value: transposed ? tf.add(tf.transpose(tf.matMul(tf.transpose(w2), tf.transpose(x2))), b1) : tf.fused.matMul({ a: x2, b: w2, bias: b1 }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        const d = dy as tf.Tensor2D;
        return [matMulNT(d, ws), matMulTN(xs, d), columnSums(d)];
      },
    };
  });
  return op(x, w, b) as tf.Tensor2D;
}

/** The index tensors of a SparseBatch, created once per batch and shared by forward and backward. */
export interface SparseBatchTensors {
  readonly rows: number;
  readonly nnz: number;
  /** Number of leading rows that sparseSegmentSum produces (last non-empty row + 1). */
  readonly segRows: number;
  readonly idx: tf.Tensor1D;
  readonly seg: tf.Tensor1D;
  readonly range: tf.Tensor1D;
  readonly vals: tf.Tensor2D;
  readonly rowScale: tf.Tensor2D | undefined;
  /** The same rows as a dense rows × cols matrix, when a dense matMul is the faster first layer. */
  readonly dense: tf.Tensor2D | undefined;
}

/**
 * Whether a first layer over this batch is faster as a dense matMul: with the native sgemm or on a GPU,
 * for inputs at least 1 % dense, e.g. bags of words (~3 %), not clicks (~0.2 %); measured at the Yelp
 * shape with sgemm: 30–45 ms dense against 60–90 ms sparse for the words, the reverse for clicks.
 */
export function prefersDenseInput(options: { nnz: number; rows: number; cols: number }): boolean {
  // The native sparse kernels beat a dense matMul at any density these inputs have.
  if (nativeSparseEnabled()) return false;
  return fastTransposes() && options.nnz >= 0.01 * options.rows * options.cols;
}

/**
 * Uploads a SparseBatch (the caller disposes the tensors, normally through tf.tidy); with `cols`, also
 * as a dense matrix when prefersDenseInput says so.
 */
export function sparseBatchTensors(batch: SparseBatch, cols?: number): SparseBatchTensors {
  const nnz = batch.idx.length;
  let dense: tf.Tensor2D | undefined;
  if (cols !== undefined && prefersDenseInput({ nnz, rows: batch.rows, cols })) {
    const values = new Float32Array(batch.rows * cols);
    for (let k = 0; k < nnz; k += 1) values[batch.seg[k] * cols + batch.idx[k]] = batch.vals[k];
    dense = tf.tensor2d(values, [batch.rows, cols]);
  }
  return {
    dense,
    rows: batch.rows,
    nnz,
    segRows: nnz === 0 ? 0 : batch.seg[nnz - 1] + 1,
    idx: tf.tensor1d(batch.idx, "int32"),
    seg: tf.tensor1d(batch.seg, "int32"),
    range: tf.range(0, nnz, 1, "int32") as tf.Tensor1D,
    vals: tf.tensor2d(batch.vals, [nnz, 1]),
    rowScale: batch.rowScale ? tf.tensor2d(batch.rowScale, [batch.rows, 1]) : undefined,
  };
}

/**
 * Sums rows `indices` of `data` into `rows` output rows by sorted segment ids, padding trailing empty
 * rows; `inOrder` says that `indices` is 0 … n−1 (every row of `data`, in order), which webgpu needs no gather for.
 */
export function segmentRows(options: { data: tf.Tensor2D; indices: tf.Tensor1D; inOrder?: boolean; segments: tf.Tensor1D; segRows: number; rows: number }): tf.Tensor2D {
  const { data, indices, segments, segRows, rows } = options;
  return tf.tidy(() => {
    if (segRows === 0) return tf.zeros([rows, data.shape[1]]) as tf.Tensor2D;
    if (gatherKernels()) return tf.unsortedSegmentSum(options.inOrder ? data : tf.gather(data, indices), segments, rows) as tf.Tensor2D;
    const summed = tf.sparse.sparseSegmentSum(data, indices, segments) as tf.Tensor2D;
    return segRows === rows ? summed : (tf.pad(summed, [[0, rows - segRows], [0, 0]]) as tf.Tensor2D);
  });
}

/**
 * S · W + b for a sparse batch S (rows × N) and W (N × H): gathers only the rows of W that S touches.
 * Only W and b get gradients (S is data); dW is scattered back with scatterND, which sums duplicates.
 */
export function sparseLinear(s: SparseBatchTensors, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (s.dense) return denseInputLinear(s.dense, w, b);
  if (sparseKernelsEnabled() && s.nnz > 0) return kernelSparseLinear(s, w, b);
  const [n, h] = w.shape;
  const op = tf.customGrad((wi: tf.Tensor | Save, bi: tf.Tensor | Save) => {
    const [w2, b1] = [wi as tf.Tensor2D, bi as tf.Tensor1D];
    let summed: tf.Tensor2D;
    if (s.nnz === 0) {
      summed = tf.zeros([s.rows, h]);
    } else if (s.rowScale) {
      // Equal values within each row: one segment sum of W's rows, then a per-row factor.
      summed = tf.mul(segmentRows({ data: w2, indices: s.idx, segments: s.seg, segRows: s.segRows, rows: s.rows }), s.rowScale);
    } else {
      const gathered = tf.mul(gatherRows(w2, s.idx, s.range), s.vals) as tf.Tensor2D;
      summed = segmentRows({ data: gathered, indices: s.range, inOrder: true, segments: s.seg, segRows: s.segRows, rows: s.rows });
    }
    return {
      value: tf.add(summed, b1),
      gradFunc: (dy: tf.Tensor) => {
        const d = dy as tf.Tensor2D;
        const db = tf.sum(d, 0);
        if (s.nnz === 0) return [tf.zerosLike(w2), db];
        // Row seg[k] of dy, once per entry k (wasm has no UnsortedSegmentSum, which tf.gather's own gradient needs).
        const perEntry = s.rowScale ? gatherRows(tf.mul(d, s.rowScale), s.seg, s.range) : tf.mul(gatherRows(d, s.seg, s.range), s.vals);
        const dw = tf.scatterND(tf.reshape(s.idx, [s.nnz, 1]), perEntry, [n, h]);
        return [dw, db];
      },
    };
  });
  return op(w, b) as tf.Tensor2D;
}

/** sparseLinear through our kernels (the addon's, or heap-kernels.ts's): one pass over the entries forward, one backward. */
function kernelSparseLinear(s: SparseBatchTensors, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const values = s.rowScale ?? s.vals;
  const attrs = { rows: s.rows, rowScale: s.rowScale !== undefined };
  const op = tf.customGrad((wi: tf.Tensor | Save, bi: tf.Tensor | Save) => ({
    value: tf.engine().runKernel(SPARSE_LINEAR_KERNEL, { idx: s.idx, seg: s.seg, values, w: wi as tf.Tensor, bias: bi as tf.Tensor }, attrs) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor) => [
      tf.engine().runKernel(SPARSE_LINEAR_GRAD_KERNEL, { idx: s.idx, seg: s.seg, values, w: wi as tf.Tensor, dy }, attrs) as tf.Tensor2D,
      columnSums(dy as tf.Tensor2D),
    ],
  }));
  return op(w, b) as tf.Tensor2D;
}

/** X · W + b for a data matrix X: like `linear`, without the gradient for X that nothing needs. */
function denseInputLinear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad((wi: tf.Tensor | Save, bi: tf.Tensor | Save) => ({
    value: tf.fused.matMul({ a: x, b: wi as tf.Tensor2D, bias: bi as tf.Tensor1D }),
    gradFunc: (dy: tf.Tensor) => [matMulTN(x, dy as tf.Tensor2D), columnSums(dy as tf.Tensor2D)],
  }));
  return op(w, b) as tf.Tensor2D;
}

/** The raw target rows of a multinomial likelihood, as tensors (the caller disposes them). */
export interface SparseTarget {
  readonly rows: number;
  readonly nnz: number;
  readonly segRows: number;
  /** (row, column) of each entry, nnz × 2. */
  readonly positions: tf.Tensor2D;
  readonly vals: tf.Tensor2D;
  readonly seg: tf.Tensor1D;
  readonly range: tf.Tensor1D;
  /** Σ_i x_ui per row, rows × 1. */
  readonly rowSum: tf.Tensor2D;
}

/** Uploads the raw (unnormalised, undropped) rows of a batch as a likelihood target. */
export function sparseTarget(batch: SparseBatch): SparseTarget {
  const nnz = batch.idx.length;
  const positions = new Int32Array(2 * nnz);
  for (let k = 0; k < nnz; k += 1) {
    positions[2 * k] = batch.seg[k];
    positions[2 * k + 1] = batch.idx[k];
  }
  return {
    rows: batch.rows,
    nnz,
    segRows: nnz === 0 ? 0 : batch.seg[nnz - 1] + 1,
    positions: tf.tensor2d(positions, [nnz, 2], "int32"),
    vals: tf.tensor2d(batch.vals, [nnz, 1]),
    seg: tf.tensor1d(batch.seg, "int32"),
    range: tf.range(0, nnz, 1, "int32") as tf.Tensor1D,
    rowSum: tf.tensor2d(batch.rowSum, [batch.rows, 1]),
  };
}

/**
 * −log p(x_u | logits_u) = −Σ_i x_ui log softmax(logits_u)_i per row (multinomial likelihood, up to
 * its constant), from one softmax: log-sum-exp = max(logits) − log(max(softmax)), which cannot underflow.
 * Gradient: softmax · Σ_i x_ui − x_u.
 */
export function multinomialNll(logits: tf.Tensor2D, target: SparseTarget): tf.Tensor1D {
  if (nativeNllEnabled()) return nativeMultinomialNll(logits, target);
  const [rows, cols] = logits.shape;
  const op = tf.customGrad((li: tf.Tensor | Save, save: tf.Tensor | Save) => {
    const l = li as tf.Tensor2D;
    const p = tf.softmax(l);
    (save as Save)([p]);
    const lse = tf.sub(tf.max(l, 1, true), tf.log(tf.max(p, 1, true)));
    let dot: tf.Tensor2D = tf.zeros([rows, 1]);
    if (target.nnz > 0) {
      const picked = tf.mul(tf.reshape(tf.gatherND(l, target.positions), [target.nnz, 1]), target.vals) as tf.Tensor2D;
      dot = segmentRows({ data: picked, indices: target.range, inOrder: true, segments: target.seg, segRows: target.segRows, rows });
    }
    return {
      value: tf.reshape(tf.sub(tf.mul(lse, target.rowSum), dot), [rows]) as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dyCol = tf.reshape(dy, [rows, 1]);
        const dense = tf.mul(saved[0], tf.mul(target.rowSum, dyCol));
        if (target.nnz === 0) return [dense];
        const perEntry = tf.mul(target.vals, tf.gather(dyCol, target.seg));
        return [tf.sub(dense, tf.scatterND(target.positions, tf.reshape(perEntry, [target.nnz]), [rows, cols]))];
      },
    };
  });
  return op(logits) as tf.Tensor1D;
}

/** multinomialNll through the addon: one pass per row forward (softmax, log-sum-exp, the target dot), one backward. */
function nativeMultinomialNll(logits: tf.Tensor2D, target: SparseTarget): tf.Tensor1D {
  const inputs = { positions: target.positions, vals: target.vals, rowSum: target.rowSum };
  const op = tf.customGrad((li: tf.Tensor | Save, save: tf.Tensor | Save) => {
    const [loss, p] = tf.engine().runKernel(NLL_KERNEL, { logits: li as tf.Tensor, ...inputs }, {}) as tf.Tensor[];
    (save as Save)([p]);
    return {
      value: loss as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.engine().runKernel(NLL_GRAD_KERNEL, { p: saved[0], ...inputs, dy }, {}) as tf.Tensor2D],
    };
  });
  return op(logits) as tf.Tensor1D;
}

/**
 * log Σ_j exp(logits_rj) of each row (no gradient): through the addon's likelihood kernel with an
 * empty target and rowSum 1, one pass per row on the cores, where tf.logSumExp takes five over the
 * whole matrix (≈ 2× the decoder's own product at the Yelp shape).
 */
export function logSumExpRows(logits: tf.Tensor2D): tf.Tensor1D {
  if (!nativeNllEnabled()) return tf.logSumExp(logits, 1);
  const rows = logits.shape[0];
  return tf.tidy(() => {
    const inputs = { logits, positions: tf.zeros([0, 2], "int32"), vals: tf.zeros([0, 1]), rowSum: tf.ones([rows, 1]) };
    const [loss, p] = tf.engine().runKernel(NLL_KERNEL, inputs, {}) as tf.Tensor[];
    p.dispose();
    return loss as tf.Tensor1D;
  });
}
