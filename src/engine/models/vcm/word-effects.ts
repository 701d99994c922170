/**
 * How much each word of a user's bag of words holds up one item's review2click (VCM-CD) score:
 * the first-order effect of deleting the word, e_w = y_w · ∂ log π_ui(y) / ∂ y_w (gradient × input),
 * where π_u(y) = softmax(VAEx decoder(μy(y / ‖y‖))) (docs/model.md §1, VCM-CD). Positive: removing the
 * word lowers the item's score (by a relative drop ≈ e_w); negative: removing it raises the score.
 * Because the bag is L2-normalised before VAEy's encoder, log π_ui is invariant to the bag's scale,
 * so the effects of one bag sum to 0 (Euler's theorem): they say which words pull toward the item
 * and which pull away, against the bag's average.
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import { sparseBatch } from "../../batch.ts";
import { linear, matMulNT, softmaxMean, sparseBatchTensors, sparseLinear, takeRows, type PackedLayer } from "../../runtime/index.ts";
import type { Params } from "../params.ts";
import { exactDeletionEffects, type DeletionGroup } from "./deletion.ts";

/** One (user, item) pair: the user's row of the bag-of-words matrix and the item's column. */
export interface WordEffectPair {
  readonly row: number;
  readonly item: number;
}

/** Users per forward pass: the pairs of a chunk's users share its forward pass and softmax. */
const USERS_PER_CHUNK = 64;

function param(params: Params, name: string): tf.Tensor2D {
  const t = params.get(name);
  if (!t) throw new Error(`Invariant failed: parameter ${name} is missing`);
  return t as tf.Tensor2D;
}

/**
 * e_w for every entry of each pair's bag (the row's CSR entries, in their order), one Float32Array per
 * pair. Backward pass written out: with h = tanh(a), a = ŷ·W_enc + b (VAEy's encoder), μ = h·W_μ + b,
 * h₂ = tanh(μ·W_dec + b), l = h₂·W_out + b and π = softmax(l) (VAEx's decoder),
 * ∂ log π_i / ∂h₂ = W_out[:, i] − W_out·π, so one softmax per user serves all its items (its mean W_out·π
 * in one read of W_out: runtime softmaxMean); then through
 * tanh, W_dec, W_μ and tanh again to g_a, g_ŷ_w = W_enc[w] · g_a (for the chunk's words only), and through the normalisation
 * ŷ = y / ‖y‖: e_w = ŷ_w (g_ŷ_w − ŷ_w ⟨ŷ, g_ŷ⟩). An empty bag gives an empty array. `outputRows`, when
 * given, is W_outᵀ (items × hidden, outputLayerRows), whose row i is the column W_out[:, i]: the same
 * numbers, taken faster.
 */
export async function bagWordEffects(o: { params: Params; outputRows?: tf.Tensor2D; words: CsrMatrix; pairs: ReadonlyArray<WordEffectPair> }): Promise<Float32Array[]> {
  const { params, outputRows, words, pairs } = o;
  const out: Float32Array[] = pairs.map((p) => new Float32Array(words.indptr[p.row + 1] - words.indptr[p.row]));
  // Pairs grouped by user, users in first-seen order.
  const byUser = new Map<number, number[]>();
  pairs.forEach((p, j) => {
    const list = byUser.get(p.row);
    if (list) list.push(j);
    else byUser.set(p.row, [j]);
  });
  const users = [...byUser.keys()].filter((r) => words.indptr[r + 1] > words.indptr[r]);
  for (let start = 0; start < users.length; start += USERS_PER_CHUNK) {
    const chunk = users.slice(start, start + USERS_PER_CHUNK);
    const batch = sparseBatch({ matrix: words, rows: chunk });
    // Pairs of the chunk: their user's batch row, and (pair, word) positions for the final gather.
    const members = chunk.flatMap((r) => byUser.get(r)!);
    const userOf = new Int32Array(members.length);
    const items = new Int32Array(members.length);
    let entries = 0;
    members.forEach((j, m) => {
      userOf[m] = chunk.indexOf(pairs[j].row);
      items[m] = pairs[j].item;
      entries += out[j].length;
    });
    // Entry offsets of each batch row in the batch's (normalised) values, and each user's pairs (consecutive in `members`).
    const rowStart = new Int32Array(chunk.length + 1);
    for (let k = 0; k < batch.seg.length; k += 1) rowStart[batch.seg[k] + 1] += 1;
    for (let b = 0; b < chunk.length; b += 1) rowStart[b + 1] += rowStart[b];
    const pairStart = new Int32Array(chunk.length + 1);
    for (let m = 0; m < members.length; m += 1) pairStart[userOf[m] + 1] += 1;
    for (let b = 0; b < chunk.length; b += 1) pairStart[b + 1] += pairStart[b];
    const normalised = new Float32Array(entries);
    let e = 0;
    members.forEach((_, m) => {
      const b = userOf[m];
      normalised.set(batch.vals.subarray(rowStart[b], rowStart[b + 1]), e);
      e += rowStart[b + 1] - rowStart[b];
    });
    const gradient = tf.tidy(() => {
      const input = sparseBatchTensors(batch, words.cols);
      const h = tf.tanh(sparseLinear(input, param(params, "y.enc.W"), params.get("y.enc.b") as tf.Tensor1D));
      const mu = linear(h, param(params, "y.mu.W"), params.get("y.mu.b") as tf.Tensor1D);
      const h2 = tf.tanh(linear(mu, param(params, "x.dec.W"), params.get("x.dec.b") as tf.Tensor1D));
      const outW = param(params, "x.out.W");
      const mean = softmaxMean(h2, outW, params.get("x.out.b") as tf.Tensor1D);
      // Rows per pair through takeRows (sparseSegmentSum on wasm), where tf.gather took ≈ 15 ms for 200 pairs;
      // the items' columns of W_out are rows of W_outᵀ, where a gather of 140 columns took ≈ 7 ms CPU against ≈ 1.
      const userIdx = tf.tensor1d(userOf, "int32");
      const itemIdx = tf.tensor1d(items, "int32");
      const columns = outputRows ? takeRows(outputRows, itemIdx) : tf.transpose(tf.gather(outW, itemIdx, 1));
      const gH2 = tf.sub(columns, takeRows(mean, userIdx));
      const gA2 = tf.mul(gH2, tf.sub(1, tf.square(takeRows(h2, userIdx)))) as tf.Tensor2D;
      const gMu = matMulNT(gA2, param(params, "x.dec.W"));
      const gH = matMulNT(gMu, param(params, "y.mu.W"));
      const gA = tf.mul(gH, tf.sub(1, tf.square(takeRows(h, userIdx)))) as tf.Tensor2D;
      const encW = param(params, "y.enc.W");
      // Each user's pairs against the rows of W_enc of that user's own bag (entry order): one product per
      // user, where one product over the chunk's distinct words would compute every pair against every bag.
      const perUser = chunk.map((_, b) => {
        const gAb = tf.slice(gA, [pairStart[b], 0], [pairStart[b + 1] - pairStart[b], gA.shape[1]]);
        const bag = takeRows(encW, tf.tensor1d(batch.idx.subarray(rowStart[b], rowStart[b + 1]), "int32"));
        return tf.reshape(matMulNT(gAb, bag), [-1]);
      });
      return perUser.length === 1 ? perUser[0] : tf.concat(perUser);
    });
    let g: Float32Array;
    try {
      g = (await gradient.data()) as Float32Array;
    } finally {
      gradient.dispose();
    }
    e = 0;
    for (const j of members) {
      const n = out[j].length;
      let dot = 0;
      for (let t = 0; t < n; t += 1) dot += normalised[e + t] * g[e + t];
      for (let t = 0; t < n; t += 1) out[j][t] = normalised[e + t] * (g[e + t] - normalised[e + t] * dot);
      e += n;
    }
  }
  return out;
}

/**
 * W_outᵀ of VAEx's output layer (items × hidden), kept by a model whose weights no longer change, for
 * bagWordEffects: a copy of x.out.W, not disposed by any tf.tidy around the call. The caller disposes it.
 */
export function outputLayerRows(params: Params): tf.Tensor2D {
  return tf.keep(tf.transpose(param(params, "x.out.W")));
}

/** One pair and the words of its user's bag whose exact deletion effect is wanted. */
export interface DeletionRequest extends WordEffectPair {
  /** Vocabulary columns, each in the row's bag (others have no effect and get 0). */
  readonly words: ArrayLike<number>;
}

/**
 * The exact relative fall of the item's review2click score when one word leaves the user's bag,
 * δ(w) = 1 − π_ui(y ∖ w) / π_ui(y), one Float32Array per request aligned with its `words`. A user's
 * bag minus w serves every item of that user, so each user costs one forward pass per distinct word
 * asked for, plus one for the whole bag (deletion.ts).
 */
export async function deletionEffects(o: { params: Params; words: CsrMatrix; requests: ReadonlyArray<DeletionRequest>; packed?: PackedLayer }): Promise<Float32Array[]> {
  const group = wordDeletionGroup(o);
  return exactDeletionEffects({ params: o.params, packed: o.packed, ...group });
}

/** The requests as deletion requests of the word side (deletion.ts). */
export function wordDeletionGroup(o: { words: CsrMatrix; requests: ReadonlyArray<DeletionRequest> }): DeletionGroup {
  return { side: "y", matrix: o.words, requests: o.requests.map((r) => ({ row: r.row, item: r.item, columns: r.words })) };
}
