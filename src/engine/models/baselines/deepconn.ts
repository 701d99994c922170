/**
 * DeepCoNN: Lei Zheng, Vahid Noroozi and Philip S. Yu, "Joint Deep Modeling of Users and Items Using
 * Reviews for Recommendation", WSDM 2017. Two parallel text networks, one over the user's reviews and
 * one over the item's (§3.2: a word-embedding lookup, a convolution with n1 filters of window t and
 * ReLU, max-pooling over time, a fully connected layer to x_u or y_i), joined by a factorization
 * machine on z = [x_u, y_i] (§3.3: ŷ = ŵ0 + Σ ŵ_p z_p + Σ_{p<q} ⟨v̂_p, v̂_q⟩ z_p z_q).
 * Revised for implicit feedback as He et al. (NCF, WWW 2017) do: each training click is a positive,
 * `negatives` items per click are drawn uniformly from a per-batch pool of `deepconnNegativePool` items
 * (never the user's training clicks) as negatives, and the loss is the logistic loss
 * Σ softplus(−ŷ) over positives + Σ softplus(ŷ) over negatives (the paper regresses ratings with a
 * squared loss). Our choices, for a 2-core machine and for data that is a bag of words per user:
 * - a text is a token sequence made from a bag of words: its distinct words by descending count (ties by
 *   word id), the first `deepconnTokens`; a user's bag is y_u, an item's is the sum of the bags of the
 *   users who clicked it in the TRAINING clicks only (held-out clicks never reach an item's text);
 * - embeddings are learned from scratch (the paper starts from pre-trained word2vec, 300 wide);
 * - the convolution is computed as Σ_o P_o[token_{j+o}] with P_o = E · W_o (the same linear map, with
 *   rows of E·W looked up instead of windows of E multiplied), because wasm has no gradient kernel for
 *   conv2d's filter.
 * As we recall the paper trains it (docs/cli.md "Baselines" says what was and was not verified): RMSprop at
 * 0.002 (`baselineOptimizer`, `learningRate`: deepconn's defaults,
 * config-fields.ts variantDefaults) and dropout (`deepconnDropout`, 0.5) on each network's output x_u, y_i
 * (after the fully connected layer and its ReLU, before the factorization machine), in training only:
 * the caches and every score use the networks without it.
 * The FM splits into a user part, an item part and ⟨s_u, s_i⟩ with s_u = x_u·V̂_u, s_i = y_i·V̂_i, so
 * ranking all items for a user is one matrix product; the item parts of every item, and s_u of every
 * training user, are recomputed after each epoch and stored with the weights.
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import { ErrorCode, UserError } from "../../../errors.ts";
import type { DeepconnConfig } from "../../config.ts";
import { linear, matMulNT, takeRows } from "../../runtime/index.ts";
import type { Rng } from "../../random.ts";
import type { PredictionMode } from "../../types.ts";
import type { ParamSpec, Params } from "../params.ts";
import { replaceParam, ROW_FINGERPRINTS, rowsInBatches, type Baseline, type BaselineSizes, type BaselineTrainer } from "./baseline.ts";
import { readFactorsOfRows } from "./collaborative.ts";
import { networkOptimizer, type NetworkOptimizer } from "./optimizer.ts";

type Side = "user" | "item";

/** Cached outputs of the trained networks (recomputed after each epoch, not trained directly). */
const USER_INTERACTION = "deepconn.cache.userS";
const ITEM_INTERACTION = "deepconn.cache.itemS";
const ITEM_BIAS = "deepconn.cache.itemC";

/** Token sequences of some texts: rows × length word ids, padded with `pad` (= numWords). */
export interface TokenTexts {
  readonly rows: number;
  readonly length: number;
  readonly tokens: Int32Array;
  /** Number of real tokens of each text. */
  readonly counts: Int32Array;
}

/** The first `length` distinct words of each bag by descending count (ties by word id). */
export function tokensOfBags(o: { bags: CsrMatrix; rows: ArrayLike<number>; length: number }): TokenTexts {
  const { bags, rows, length } = o;
  const tokens = new Int32Array(rows.length * length).fill(bags.cols);
  const counts = new Int32Array(rows.length);
  for (let b = 0; b < rows.length; b += 1) {
    const r = rows[b];
    const entries = Array.from({ length: bags.indptr[r + 1] - bags.indptr[r] }, (_, j) => bags.indptr[r] + j);
    entries.sort((x, y) => bags.values[y] - bags.values[x] || bags.indices[x] - bags.indices[y]);
    const n = Math.min(length, entries.length);
    for (let j = 0; j < n; j += 1) tokens[b * length + j] = bags.indices[entries[j]];
    counts[b] = n;
  }
  return { rows: rows.length, length, tokens, counts };
}

/** Each item's bag of words: the sum of the bags of the users who clicked it in `train`, items × words. */
export function itemBags(train: CsrMatrix, words: CsrMatrix): CsrMatrix {
  const sums = new Float64Array(words.cols);
  const touched: number[] = [];
  const byItem: Array<Array<[number, number]>> = Array.from({ length: train.cols }, () => []);
  const clickers: number[][] = Array.from({ length: train.cols }, () => []);
  for (let u = 0; u < train.rows; u += 1) for (let e = train.indptr[u]; e < train.indptr[u + 1]; e += 1) clickers[train.indices[e]].push(u);
  for (let i = 0; i < train.cols; i += 1) {
    for (const u of clickers[i]) {
      for (let e = words.indptr[u]; e < words.indptr[u + 1]; e += 1) {
        const word = words.indices[e];
        if (sums[word] === 0) touched.push(word);
        sums[word] += words.values[e];
      }
    }
    touched.sort((x, y) => x - y);
    for (const word of touched) {
      byItem[i].push([word, sums[word]]);
      sums[word] = 0;
    }
    touched.length = 0;
  }
  const indptr = new Int32Array(train.cols + 1);
  byItem.forEach((row, i) => (indptr[i + 1] = indptr[i] + row.length));
  const indices = new Int32Array(indptr[train.cols]);
  const values = new Float32Array(indptr[train.cols]);
  byItem.forEach((row, i) => row.forEach(([word, count], j) => ((indices[indptr[i] + j] = word), (values[indptr[i] + j] = count))));
  return { rows: train.cols, cols: words.cols, indptr, indices, values };
}

function p<T extends tf.Tensor>(params: Params, name: string): T {
  const t = params.get(name);
  if (!t) throw new Error(`Invariant failed: parameter ${name} is missing`);
  return t as T;
}

/** The trainable weights (everything but the caches and the fingerprints). */
function networkSpecs(sizes: Omit<BaselineSizes, "numUsers" | "config"> & { readonly config: DeepconnConfig }): ParamSpec[] {
  const c = sizes.config;
  const side = (s: Side): ParamSpec[] => [
    { name: `deepconn.${s}.embed.W`, shape: [sizes.numWords, c.deepconnEmbedding] },
    { name: `deepconn.${s}.conv.W`, shape: [c.deepconnEmbedding, c.deepconnWindow * c.deepconnFilters] },
    { name: `deepconn.${s}.conv.b`, shape: [c.deepconnWindow * c.deepconnFilters] },
    { name: `deepconn.${s}.fc.W`, shape: [c.deepconnFilters, c.baselineLatentDim] },
    { name: `deepconn.${s}.fc.b`, shape: [c.baselineLatentDim] },
    { name: `deepconn.fm.${s}.w`, shape: [c.baselineLatentDim] },
    { name: `deepconn.fm.${s}.V`, shape: [c.baselineLatentDim, c.deepconnFmFactors] },
  ];
  return [...side("user"), ...side("item"), { name: "deepconn.fm.w0", shape: [1] }];
}

/** One side's network on token texts (§3.2): embedding, convolution with ReLU, max-pooling over time, the fully connected layer with ReLU; rows × baselineLatentDim. */
export function textTower(o: { params: Params; config: DeepconnConfig; side: Side; texts: TokenTexts }): tf.Tensor2D {
  const { params, config, side, texts } = o;
  const { rows, length } = texts;
  const f = config.deepconnFilters;
  const window = config.deepconnWindow;
  const shifted = new Int32Array(rows * length * window);
  const pad = p<tf.Tensor2D>(params, `deepconn.${side}.embed.W`).shape[0];
  // Row `pad` of the table (past the vocabulary) is the padding token's and adds nothing to a window;
  // row `pad + 1` is −∞-like and starts every window past a text's last one, so that window's ReLU
  // output is 0. Pooling takes the max of ReLU outputs (≥ 0) and a ReLU after it, so such windows
  // never change the result, nor does a text without words (it pools to 0), without a mask that
  // would be broadcast over every window and filter.
  const closed = pad + 1;
  for (let b = 0; b < rows; b += 1) {
    // A text shorter than the window still has one window (padded); an empty text has none.
    const windows = texts.counts[b] === 0 ? 0 : Math.max(1, texts.counts[b] - window + 1);
    for (let j = 0; j < length; j += 1) {
      for (let q = 0; q < window; q += 1) {
        shifted[(q * rows + b) * length + j] = q === 0 && j >= windows ? closed : j + q < length ? texts.tokens[b * length + j + q] : pad;
      }
    }
  }
  const projected = linear(p(params, `deepconn.${side}.embed.W`), p(params, `deepconn.${side}.conv.W`), p(params, `deepconn.${side}.conv.b`));
  const table = tf.concat([projected, tf.zeros([1, window * f]), tf.fill([1, window * f], CLOSED_WINDOW)], 0) as tf.Tensor2D;
  const n = rows * length;
  let conv: tf.Tensor2D | undefined;
  for (let q = 0; q < window; q += 1) {
    const slice = tf.slice(table, [0, q * f], [pad + 2, f]) as tf.Tensor2D;
    const looked = takeRows(slice, tf.tensor1d(shifted.subarray(q * n, (q + 1) * n), "int32"));
    conv = conv ? (tf.add(conv, looked) as tf.Tensor2D) : looked;
  }
  const activated = tf.reshape(tf.relu(conv!), [rows, length, f]) as tf.Tensor3D;
  // Max-pooling over the windows; a text without words pools to 0.
  const pooled = tf.relu(maxOverWindows(activated)) as tf.Tensor2D;
  return tf.relu(linear(pooled, p(params, `deepconn.${side}.fc.W`), p(params, `deepconn.${side}.fc.b`)));
}

/**
 * One side's network on token texts (textTower), then its FM part (§3.3 split by side): per text the
 * scalar part (ŵ·x + ½(‖x V̂‖² − Σ_p x_p² ‖v̂_p‖²), plus ŵ0 on the item side) and s = x·V̂; rows × (1 + f).
 * `keep` (training only) multiplies x entry by entry: a dropout mask (dropoutMask).
 */
export function sideOutput(o: { params: Params; config: DeepconnConfig; side: Side; texts: TokenTexts; keep?: Float32Array }): tf.Tensor2D {
  const { params, side } = o;
  const fc = textTower(o);
  const x = o.keep ? tf.mul(fc, tf.tensor2d(o.keep, fc.shape)) : fc;
  const fmV = p<tf.Tensor2D>(params, `deepconn.fm.${side}.V`);
  const s = tf.matMul(x, fmV);
  const linearPart = tf.sum(tf.mul(x, p(params, `deepconn.fm.${side}.w`)), 1, true);
  const pairwise = tf.mul(0.5, tf.sub(tf.sum(tf.square(s), 1, true), tf.matMul(tf.square(x), tf.sum(tf.square(fmV), 1, true))));
  let scalar = tf.add(linearPart, pairwise);
  if (side === "item") scalar = tf.add(scalar, p(params, "deepconn.fm.w0"));
  return tf.concat([scalar, s], 1) as tf.Tensor2D;
}

/** Pre-activation of a window past a text's end: far below anything the weights give, so its ReLU is 0. */
const CLOSED_WINDOW = -1e9;

/**
 * max over axis 1 of x [rows, length, f], with the gradient sent to each maximum's position (by
 * argMax and one scatter). tf.max's own gradient compares x with the broadcast maximum, which on the
 * wasm backend was 2.7 s of a 3.3 s DeepCoNN step at the Yelp shape (BENCHMARKS.md). Ties, which the
 * ReLU before it makes common at 0, get the gradient at one position instead of each; after that ReLU
 * a tie at 0 carries none anyway, and ties above 0 have probability 0.
 */
function maxOverWindows(x: tf.Tensor3D): tf.Tensor2D {
  const [rows, length, f] = x.shape;
  // Flat position of (b, 0, j): b·length·f + j; the maximum's is that plus argMax · f.
  const base = new Int32Array(rows * f);
  for (let b = 0; b < rows; b += 1) for (let j = 0; j < f; j += 1) base[b * f + j] = b * length * f + j;
  const pool = tf.customGrad((xi: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const input = xi as tf.Tensor3D;
    // Saved, so the positions made inside a gradient's forward pass survive until its backward pass.
    (save as tf.GradSaveFunc)([tf.argMax(input, 1)]);
    return {
      value: tf.max(input, 1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const positions = tf.add(tf.tensor2d(base, [rows, f], "int32"), tf.mul(saved[0], tf.scalar(f, "int32")));
        return [tf.reshape(tf.scatterND(tf.reshape(positions, [rows * f, 1]), tf.reshape(dy, [rows * f]), [rows * length * f]), [rows, length, f])];
      },
    };
  });
  return pool(x) as tf.Tensor2D;
}

/** A training batch: the users' and the items' texts and the (user, item, label) pairs. */
export interface PairBatch {
  readonly users: TokenTexts;
  readonly items: TokenTexts;
  /** Position of each pair's user in `users`. */
  readonly pairUser: Int32Array;
  /** Position of each pair's item in `items`. */
  readonly pairItem: Int32Array;
  /** 1 for a click, 0 for a sampled negative. */
  readonly labels: Float32Array;
}

/** Dropout masks of a training batch's network outputs, one per side (rows × baselineLatentDim each). */
export interface DropoutMasks {
  readonly user: Float32Array;
  readonly item: Float32Array;
}

/**
 * Inverted dropout at rate p: each entry is 0 with probability p and 1 / (1 − p) otherwise, so a unit's
 * expected value is the same in training as at inference, where no mask is applied.
 */
export function dropoutMask(o: { size: number; rate: number; rng: Rng }): Float32Array {
  const keep = 1 / (1 - o.rate);
  return Float32Array.from({ length: o.size }, () => (o.rng.next() < o.rate ? 0 : keep));
}

/** The masks of `deepconnDropout` for a batch, drawn from `rng`; undefined when the rate is 0. */
export function batchDropout(o: { batch: PairBatch; config: DeepconnConfig; rng: Rng }): DropoutMasks | undefined {
  const { batch, config, rng } = o;
  if (config.deepconnDropout === 0) return undefined;
  const k = config.baselineLatentDim;
  return {
    user: dropoutMask({ size: batch.users.rows * k, rate: config.deepconnDropout, rng }),
    item: dropoutMask({ size: batch.items.rows * k, rate: config.deepconnDropout, rng }),
  };
}

/**
 * Σ over the batch's pairs of the logistic loss, divided by its number of users (a mean per user);
 * with `dropout`, the training-mode loss (masks from batchDropout).
 */
export function pairLoss(o: { params: Params; config: DeepconnConfig; batch: PairBatch; dropout?: DropoutMasks }): tf.Scalar {
  const { params, config, batch } = o;
  const user = sideOutput({ params, config, side: "user", texts: batch.users, keep: o.dropout?.user });
  const item = sideOutput({ params, config, side: "item", texts: batch.items, keep: o.dropout?.item });
  const u = takeRows(user, tf.tensor1d(batch.pairUser, "int32"));
  const i = takeRows(item, tf.tensor1d(batch.pairItem, "int32"));
  const f = config.deepconnFmFactors;
  const interaction = tf.sum(tf.mul(tf.slice(u, [0, 1], [-1, f]), tf.slice(i, [0, 1], [-1, f])), 1);
  const score = tf.add(tf.add(tf.reshape(tf.slice(u, [0, 0], [-1, 1]), [-1]), tf.reshape(tf.slice(i, [0, 0], [-1, 1]), [-1])), interaction);
  // softplus(−ŷ) for a click, softplus(ŷ) for a negative.
  const sign = tf.sub(1, tf.mul(2, tf.tensor1d(batch.labels)));
  return tf.div(tf.sum(tf.softplus(tf.mul(sign, score))), batch.users.rows) as tf.Scalar;
}

/** Samples a batch: every training click of `rows`, and `negatives` sampled non-clicks per click. */
export function samplePairs(o: { rows: ArrayLike<number>; train: CsrMatrix; userTexts: TokenTexts; itemTexts: TokenTexts; config: DeepconnConfig; rng: Rng }): PairBatch | undefined {
  const { rows, train, config, rng } = o;
  const pool = Array.from({ length: Math.min(config.deepconnNegativePool, train.cols) }, () => Math.floor(rng.next() * train.cols));
  const local = new Map<number, number>();
  const itemOf = (item: number): number => {
    let at = local.get(item);
    if (at === undefined) local.set(item, (at = local.size));
    return at;
  };
  const pairUser: number[] = [];
  const pairItem: number[] = [];
  const labels: number[] = [];
  for (let b = 0; b < rows.length; b += 1) {
    const clicked = train.indices.subarray(train.indptr[rows[b]], train.indptr[rows[b] + 1]);
    const known = new Set(clicked);
    for (const item of clicked) {
      pairUser.push(b);
      pairItem.push(itemOf(item));
      labels.push(1);
      for (let q = 0; q < config.negatives; q += 1) {
        // A few tries at a pool item the user did not click; a user who clicked the whole pool gets fewer negatives.
        for (let tries = 0; tries < 10; tries += 1) {
          const negative = pool[Math.floor(rng.next() * pool.length)];
          if (known.has(negative)) continue;
          pairUser.push(b);
          pairItem.push(itemOf(negative));
          labels.push(0);
          break;
        }
      }
    }
  }
  if (labels.length === 0) return undefined;
  const items = [...local.keys()];
  const l = o.userTexts.length;
  const pick = (texts: TokenTexts, which: ArrayLike<number>): TokenTexts => {
    const tokens = new Int32Array(which.length * l);
    const counts = new Int32Array(which.length);
    for (let j = 0; j < which.length; j += 1) {
      tokens.set(texts.tokens.subarray(which[j] * l, (which[j] + 1) * l), j * l);
      counts[j] = texts.counts[which[j]];
    }
    return { rows: which.length, length: l, tokens, counts };
  };
  return { users: pick(o.userTexts, rows), items: pick(o.itemTexts, items), pairUser: Int32Array.from(pairUser), pairItem: Int32Array.from(pairItem), labels: Float32Array.from(labels) };
}

class DeepconnTrainer implements BaselineTrainer {
  private readonly params: Params;
  private readonly train: CsrMatrix;
  private readonly config: DeepconnConfig;
  private readonly rng: Rng;
  private readonly userTexts: TokenTexts;
  private readonly itemTexts: TokenTexts;
  private readonly names: string[];
  private readonly optimizer: NetworkOptimizer;

  constructor(o: { params: Params; train: CsrMatrix; words: CsrMatrix; config: DeepconnConfig; rng: Rng }) {
    this.params = o.params;
    this.train = o.train;
    this.config = o.config;
    this.rng = o.rng;
    const length = o.config.deepconnTokens;
    this.userTexts = tokensOfBags({ bags: o.words, rows: range(o.words.rows), length });
    const bags = itemBags(o.train, o.words);
    this.itemTexts = tokensOfBags({ bags, rows: range(bags.rows), length });
    this.names = networkSpecs({ numItems: o.train.cols, numWords: o.words.cols, config: o.config }).map((s) => s.name);
    this.optimizer = networkOptimizer(
      this.names.map((n) => o.params.get(n)!),
      o.config,
    );
  }

  async epoch(o: { signal?: AbortSignal }): Promise<number[]> {
    const order = this.rng.permutation(this.train.rows);
    let sum = 0;
    for (let start = 0; start < order.length; start += this.config.batchSize) {
      o.signal?.throwIfAborted();
      const rows = order.subarray(start, start + this.config.batchSize);
      sum += (await this.step(rows, this.rng)) * rows.length;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    o.signal?.throwIfAborted();
    await this.refreshCaches();
    return [sum / this.train.rows, 0, 0, 0, 0, 0];
  }

  /** One optimiser step on a sampled batch, with dropout; resolves to its loss per user (0 for a batch without clicks). */
  async step(rows: ArrayLike<number>, rng: Rng): Promise<number> {
    const batch = samplePairs({ rows, train: this.train, userTexts: this.userTexts, itemTexts: this.itemTexts, config: this.config, rng });
    if (!batch) return 0;
    const dropout = batchDropout({ batch, config: this.config, rng });
    const trainable = this.names.map((n) => this.params.get(n)!);
    const { value, grads } = tf.tidy(() => {
      const r = tf.valueAndGrads(() => pairLoss({ params: this.params, config: this.config, batch, dropout }))(trainable);
      return { value: r.value, grads: r.grads };
    });
    const updated = this.optimizer.update(trainable, grads);
    this.names.forEach((n, i) => this.params.set(n, updated[i]));
    tf.dispose(grads);
    try {
      return (await value.data())[0];
    } finally {
      value.dispose();
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }

  /** s_u of every training user and (FM item part, s_i) of every item, from the current weights. */
  private async refreshCaches(): Promise<void> {
    const f = this.config.deepconnFmFactors;
    const users = await this.sideOfAll("user", this.userTexts);
    const items = await this.sideOfAll("item", this.itemTexts);
    const userS = new Float32Array(this.userTexts.rows * f);
    const itemS = new Float32Array(this.itemTexts.rows * f);
    const itemC = new Float32Array(this.itemTexts.rows);
    for (let r = 0; r < this.userTexts.rows; r += 1) userS.set(users.subarray(r * (f + 1) + 1, (r + 1) * (f + 1)), r * f);
    for (let i = 0; i < this.itemTexts.rows; i += 1) {
      itemC[i] = items[i * (f + 1)];
      itemS.set(items.subarray(i * (f + 1) + 1, (i + 1) * (f + 1)), i * f);
    }
    replaceParam(this.params, USER_INTERACTION, tf.tensor2d(userS, [this.userTexts.rows, f]));
    replaceParam(this.params, ITEM_INTERACTION, tf.tensor2d(itemS, [this.itemTexts.rows, f]));
    replaceParam(this.params, ITEM_BIAS, tf.tensor1d(itemC));
  }

  private async sideOfAll(side: Side, texts: TokenTexts): Promise<Float32Array> {
    const f = this.config.deepconnFmFactors;
    return rowsInBatches({
      rows: texts.rows,
      width: f + 1,
      batchSize: this.config.evalBatchSize,
      compute: (start, n) => {
        const part = { rows: n, length: texts.length, tokens: texts.tokens.subarray(start * texts.length, (start + n) * texts.length), counts: texts.counts.subarray(start, start + n) };
        return sideOutput({ params: this.params, config: this.config, side, texts: part });
      },
    });
  }
}

function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/**
 * Ranking scores ŷ_ui up to the user's own FM part (a constant per row, which neither the ranking nor
 * the softmax over items sees): ⟨s_u, s_i⟩ + the item's part, with s_u from the user's text network on
 * the row's words ("vcm-cd") or, for a row of the training clicks ("vcm"), the s_u stored for that
 * training user: DeepCoNN knows a user only by their text, so another click row is refused.
 */
async function deepconnLogits(o: { params: Params; config: DeepconnConfig; matrix: CsrMatrix; rows: ReadonlyArray<number>; mode: PredictionMode }): Promise<tf.Tensor2D> {
  const { params, config, matrix, rows } = o;
  const f = config.deepconnFmFactors;
  let users: tf.Tensor2D;
  if (o.mode === "vcm") {
    const known = await readFactorsOfRows({ params, matrix, rows, k: f, name: USER_INTERACTION });
    if (known.foldIn.length > 0) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `row ${rows[known.foldIn[0]]} is not a user whose training clicks this deepconn model was trained on, and DeepCoNN knows users only by their review text; rank from the user's words (mode vcm-cd, source REVIEWS) instead.`,
      );
    }
    users = tf.tensor2d(known.values, [rows.length, f]);
  } else {
    const texts = tokensOfBags({ bags: matrix, rows, length: config.deepconnTokens });
    users = tf.tidy(() => tf.slice(sideOutput({ params, config, side: "user", texts }), [0, 1], [-1, f]) as tf.Tensor2D);
  }
  try {
    return tf.tidy(() => tf.add(matMulNT(users, p(params, ITEM_INTERACTION)), p(params, ITEM_BIAS)) as tf.Tensor2D);
  } finally {
    users.dispose();
  }
}

/** The DeepCoNN baseline (variant "deepconn"). */
export const deepconn: Baseline = {
  specs: (sizes: BaselineSizes) => [
    ...networkSpecs(sizes),
    { name: USER_INTERACTION, shape: [sizes.numUsers, sizes.config.deepconnFmFactors] },
    { name: ITEM_INTERACTION, shape: [sizes.numItems, sizes.config.deepconnFmFactors] },
    { name: ITEM_BIAS, shape: [sizes.numItems] },
    { name: ROW_FINGERPRINTS, shape: [sizes.numUsers] },
  ],
  trainer: async (o) => new DeepconnTrainer(o),
  logits: deepconnLogits,
};
