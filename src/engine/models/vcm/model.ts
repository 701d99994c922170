/**
 * A trained model and its batched predictions: many users in one forward pass, arrays in, arrays out.
 * VCM ranks items from z = μx(x_u); VCM-CD from r = μy(y_u); click2review decodes words from
 * z = μx(x_u); the capacity is ĉu = KL(qx(z | x_u) ‖ N(0, I)) (docs/model.md §1). The paper baselines
 * (engine/baselines/) answer the same calls from their own weights, and refuse, with a sentence, what
 * their row of the capabilities table (types.ts) says they cannot do.
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import { ErrorCode, UserError } from "../../../errors.ts";
import { baselineOf, ROW_FINGERPRINTS } from "../baselines/index.ts";
import { sparseBatch } from "../../batch.ts";
import { resolveStoredVcmConfig, type VcmConfig } from "../../config.ts";
import { klToStandardNormal } from "./losses.ts";
import { topK } from "../../metrics.ts";
import { nativeTopKEnabled, TOP_K_KERNEL } from "../../runtime/native-kernels.ts";
import { sparseBatchTensors } from "../../runtime/ops.ts";
import { capabilitiesOf, isBaseline, type BackendName, type EpochRecord, type ModelSnapshot, type NamedWeight, type PredictionMode, type RowsInput, type Variant } from "../../types.ts";
import { decode, encode, paramSpecs, type ParamSpec, type Params, type Side } from "./vae.ts";
import { bagWordEffects, deletionEffects, type DeletionRequest, type WordEffectPair } from "./word-effects.ts";

/** Name of the single stored array of the popularity baseline. */
export const POPULARITY_WEIGHT = "popularity.counts";

interface ModelState {
  readonly config: VcmConfig;
  readonly backend: BackendName;
  /** What ran the kernels during training, in words (backend.ts currentDevice). */
  readonly device: string;
  readonly numItems: number;
  readonly numWords: number;
  /** Live parameters (shared with the training loop while it runs). */
  readonly params: Params;
  /** Train-click count per item, for the popularity baseline. */
  readonly popularity: Float32Array | undefined;
  readonly history: ReadonlyArray<EpochRecord>;
  readonly bestEpoch: number;
}

export class VcmModel {
  private readonly state: ModelState;
  private disposed = false;

  private constructor(state: ModelState) {
    this.state = state;
  }

  /** Wraps parameters (or popularity counts) that the caller hands over; used by training. */
  static create(state: ModelState): VcmModel {
    return new VcmModel(state);
  }

  /** Rebuilds a model from a snapshot on the current backend, checking every weight's name and shape. */
  static fromSnapshot(s: ModelSnapshot): VcmModel {
    const config = resolveStoredVcmConfig({ ...s.config, variant: s.variant });
    const byName = new Map(s.weights.map((w) => [w.name, w]));
    const base = { config, backend: s.backend, device: s.device ?? s.backend, numItems: s.numItems, numWords: s.numWords, history: s.history, bestEpoch: s.bestEpoch };
    if (!capabilitiesOf(s.variant).trained) {
      const counts = byName.get(POPULARITY_WEIGHT);
      if (!counts || counts.values.length !== s.numItems) {
        throw new UserError(ErrorCode.BAD_USER_INPUT, `the popularity model's checkpoint lacks ${s.numItems} item counts`);
      }
      return new VcmModel({ ...base, params: new Map(), popularity: Float32Array.from(counts.values) });
    }
    const params: Params = new Map();
    // A baseline keeps one factor per training user: their number is that of the stored fingerprints.
    const numUsers = byName.get(ROW_FINGERPRINTS)?.values.length ?? 0;
    if (isBaseline(s.variant) && numUsers === 0) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `the checkpoint of this ${s.variant} model lacks its weight ${ROW_FINGERPRINTS}; the checkpoint is damaged`);
    }
    for (const spec of weightSpecs({ variant: s.variant, numUsers, numItems: s.numItems, numWords: s.numWords, config })) {
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
    return new VcmModel({ ...base, params, popularity: undefined });
  }

  /** Copies the weights out (the best epoch's, once training has finished). */
  async snapshot(): Promise<ModelSnapshot> {
    this.assertLive();
    const s = this.state;
    const weights: NamedWeight[] = s.popularity
      ? [{ name: POPULARITY_WEIGHT, shape: [s.numItems], values: Float32Array.from(s.popularity) }]
      : await Promise.all(
          weightSpecs({ variant: s.config.variant, numUsers: s.params.get(ROW_FINGERPRINTS)?.shape[0] ?? 0, numItems: s.numItems, numWords: s.numWords, config: s.config }).map(async (spec) => ({
            name: spec.name,
            shape: [...spec.shape],
            values: Float32Array.from((await s.params.get(spec.name)!.data()) as Float32Array),
          })),
        );
    return {
      variant: s.config.variant,
      config: { ...s.config },
      backend: s.backend,
      device: s.device,
      numItems: s.numItems,
      numWords: s.numWords,
      weights,
      history: s.history.map((h) => ({ ...h })),
      bestEpoch: s.bestEpoch,
    };
  }

  get variant(): Variant {
    return this.state.config.variant;
  }
  get numItems(): number {
    return this.state.numItems;
  }
  get numWords(): number {
    return this.state.numWords;
  }
  get config(): VcmConfig {
    return this.state.config;
  }
  get history(): ReadonlyArray<EpochRecord> {
    return this.state.history;
  }
  get bestEpoch(): number {
    return this.state.bestEpoch;
  }
  get backend(): BackendName {
    return this.state.backend;
  }
  /** What ran the kernels during training, in words (the GPU adapter on webgpu). */
  get device(): string {
    return this.state.device;
  }

  /**
   * Item scores, rows.length × numItems row-major: π = softmax of VAEx's decoder on μx(clicks) for
   * mode "vcm", on μy(words) for "vcm-cd"; train-click counts for the popularity baseline; for the
   * paper baselines the softmax over items of their predicted preference (CDL, CVAE: u_uᵀv_i;
   * DeepCoNN: the FM's ŷ_ui), which ranks as the preference does.
   */
  async scoreItems(input: RowsInput, mode: PredictionMode): Promise<Float32Array> {
    this.assertLive();
    const s = this.state;
    const out = new Float32Array(input.rows.length * s.numItems);
    if (s.popularity) {
      for (let r = 0; r < input.rows.length; r += 1) out.set(s.popularity, r * s.numItems);
      return out;
    }
    const side: Side = mode === "vcm" ? "x" : "y";
    this.checkMode(mode);
    this.checkInput(input, side);
    await this.inChunks(input, async (rows, offset) => {
      const logits = await this.rankingLogits(input.matrix, rows, mode);
      const scores = tf.tidy(() => tf.softmax(logits));
      logits.dispose();
      try {
        out.set((await scores.data()) as Float32Array, offset * s.numItems);
      } finally {
        scores.dispose();
      }
    });
    return out;
  }

  /**
   * The k best items of each row, best first, skipping the row's entries in `exclude` (its training
   * clicks), as rows.length × k item columns padded with −1 (evaluation's ranking). Items are ranked
   * by the decoder's logits, which order a row as its softmax does; the top k is taken where the
   * scores are (the native kernel on wasm, tf.topk on a GPU), so only k numbers per row come back.
   */
  async topItems(o: { input: RowsInput; mode: PredictionMode; k: number; exclude: CsrMatrix }): Promise<Int32Array> {
    const { input, mode, exclude } = o;
    this.assertLive();
    const s = this.state;
    const k = Math.min(o.k, s.numItems);
    const out = new Int32Array(input.rows.length * o.k).fill(-1);
    if (exclude.cols !== s.numItems) throw new UserError(ErrorCode.BAD_USER_INPUT, `the excluded clicks must have ${s.numItems} item columns`);
    const hostTopK = (scores: Float32Array, rows: ReadonlyArray<number>, offset: number): void => {
      rows.forEach((r, b) => {
        const ranked = topK({ scores: scores.subarray(b * s.numItems, (b + 1) * s.numItems), k, exclude: rowColumns(exclude, r) });
        out.set(ranked, (offset + b) * o.k);
      });
    };
    if (s.popularity) {
      input.rows.forEach((r, b) => out.set(topK({ scores: s.popularity!, k, exclude: rowColumns(exclude, r) }), b * o.k));
      return out;
    }
    const side: Side = mode === "vcm" ? "x" : "y";
    this.checkMode(mode);
    this.checkInput(input, side);
    const where = nativeTopKEnabled() ? "native" : tf.getBackend() === "webgpu" ? "device" : "host";
    await this.inChunks(input, async (rows, offset) => {
      const logits = await this.rankingLogits(input.matrix, rows, mode);
      const result = where === "host" ? logits : tf.tidy(() => {
        const excluded = excludedEntries(exclude, rows);
        if (where === "native") {
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
      if (result !== logits) logits.dispose();
      try {
        const data = await result.data();
        if (where === "host") hostTopK(data as Float32Array, rows, offset);
        else for (let b = 0; b < rows.length; b += 1) out.set((data as Int32Array).subarray(b * k, (b + 1) * k), (offset + b) * o.k);
      } finally {
        result.dispose();
      }
    });
    return out;
  }

  /** click2review: VAEy's decoder softmax on z = μx(x_u), rows.length × numWords row-major. */
  async wordDistribution(input: RowsInput): Promise<Float32Array> {
    this.assertLive();
    this.require("clickToReview", "click2review word distribution (it decodes no words from clicks)");
    const s = this.state;
    this.checkInput(input, "x");
    const out = new Float32Array(input.rows.length * s.numWords);
    await this.inChunks(input, async (rows, offset) => {
      const probs = tf.tidy(() => {
        const { mu } = encode({ params: s.params, side: "x", input: sparseBatchTensors(sparseBatch({ matrix: input.matrix, rows }), input.matrix.cols) });
        return tf.softmax(decode({ params: s.params, side: "y", z: mu }));
      });
      try {
        out.set((await probs.data()) as Float32Array, offset * s.numWords);
      } finally {
        probs.dispose();
      }
    });
    return out;
  }

  /**
   * For each (user row, item) pair, the first-order effect on log π_ui (VCM-CD, from the words) of
   * deleting each word of the user's bag: one array per pair, aligned with the row's entries of
   * `words` (word-effects.ts). VCM variants only: the baselines' text networks are not VAEy.
   */
  async wordEffects(o: { words: CsrMatrix; pairs: ReadonlyArray<WordEffectPair> }): Promise<Float32Array[]> {
    this.checkEffectInput(o.words, o.pairs);
    return bagWordEffects({ params: this.state.params, words: o.words, pairs: o.pairs });
  }

  /**
   * For each request, δ(w) = 1 − π_ui(y ∖ w) / π_ui(y) (VCM-CD) of each word asked for: the exact
   * relative fall of the item's score when the word leaves the user's bag (word-effects.ts).
   */
  async deletionEffects(o: { words: CsrMatrix; requests: ReadonlyArray<DeletionRequest> }): Promise<Float32Array[]> {
    this.checkEffectInput(o.words, o.requests);
    return deletionEffects({ params: this.state.params, words: o.words, requests: o.requests });
  }

  private checkEffectInput(words: CsrMatrix, pairs: ReadonlyArray<WordEffectPair>): void {
    this.assertLive();
    this.require("clickToReview", "effects of words on the review2click score (it has no VAEy)");
    this.checkMode("vcm-cd");
    this.checkInput({ matrix: words, rows: pairs.map((p) => p.row) }, "y");
    for (const p of pairs) {
      if (!Number.isInteger(p.item) || p.item < 0 || p.item >= this.state.numItems) {
        throw new UserError(ErrorCode.BAD_USER_INPUT, `item ${p.item} is outside the model's ${this.state.numItems} items`);
      }
    }
  }

  /** Capacity ĉu = KL(qx(z | x_u) ‖ N(0, I)) per row of click input. */
  async capacity(input: RowsInput): Promise<Float32Array> {
    this.assertLive();
    this.require("capacity", "capacity (it has no click encoder qx(z|x_u), so no KL to N(0, I))");
    const s = this.state;
    this.checkInput(input, "x");
    const out = new Float32Array(input.rows.length);
    await this.inChunks(input, async (rows, offset) => {
      const kl = tf.tidy(() => {
        const q = encode({ params: s.params, side: "x", input: sparseBatchTensors(sparseBatch({ matrix: input.matrix, rows }), input.matrix.cols) });
        return klToStandardNormal(q.mu, q.logVar);
      });
      try {
        out.set((await kl.data()) as Float32Array, offset);
      } finally {
        kl.dispose();
      }
    });
    return out;
  }

  /** Posterior of one side: μ and log σ², each rows.length × latentDim row-major (clicks for "x", words for "y"). */
  async latent(input: RowsInput, side: Side): Promise<{ mu: Float32Array; logVar: Float32Array }> {
    this.assertLive();
    this.require("posterior", "latent space (it has no Gaussian posteriors qx and qy)");
    const s = this.state;
    this.checkInput(input, side);
    const k = s.config.latentDim;
    const mu = new Float32Array(input.rows.length * k);
    const logVar = new Float32Array(input.rows.length * k);
    await this.inChunks(input, async (rows, offset) => {
      const q = tf.tidy(() => {
        const r = encode({ params: s.params, side, input: sparseBatchTensors(sparseBatch({ matrix: input.matrix, rows }), input.matrix.cols) });
        return [r.mu, r.logVar];
      });
      try {
        mu.set((await q[0].data()) as Float32Array, offset * k);
        logVar.set((await q[1].data()) as Float32Array, offset * k);
      } finally {
        tf.dispose(q);
      }
    });
    return { mu, logVar };
  }

  /** Frees the weights; the model cannot predict afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.state.params.forEach((t) => t.dispose());
  }

  private async inChunks(input: RowsInput, body: (rows: ReadonlyArray<number>, offset: number) => Promise<void>): Promise<void> {
    const sliced = input.sliceRows !== undefined && input.sliceRows > 0;
    const size = sliced ? Math.min(input.sliceRows!, this.state.config.evalBatchSize) : this.state.config.evalBatchSize;
    for (let offset = 0; offset < input.rows.length; offset += size) {
      if (sliced && offset > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      this.assertLive();
      await body(input.rows.slice(offset, offset + size), offset);
    }
  }

  private checkInput(input: RowsInput, side: Side): void {
    const expected = side === "x" ? this.state.numItems : this.state.numWords;
    const what = side === "x" ? "items" : "words";
    if (input.matrix.cols !== expected) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `the input has ${input.matrix.cols} columns but the model knows ${expected} ${what}; use the dataset the model was trained on`,
      );
    }
    for (const r of input.rows) {
      if (!Number.isInteger(r) || r < 0 || r >= input.matrix.rows) {
        throw new UserError(ErrorCode.BAD_USER_INPUT, `row ${r} is outside the input's ${input.matrix.rows} rows`);
      }
    }
  }

  /** Refuses, with a sentence, what the variant's row of VARIANT_CAPABILITIES says it cannot do. */
  private require(capability: "capacity" | "clickToReview" | "posterior", what: string): void {
    const variant = this.state.config.variant;
    if (!capabilitiesOf(variant)[capability]) {
      const detail = this.state.popularity ? what.replace(/ \(.*\)$/, "") : what;
      throw new UserError(ErrorCode.BAD_USER_INPUT, `the ${variant} baseline has no ${detail}; use a vcm model`);
    }
  }

  private checkMode(mode: PredictionMode): void {
    if (mode === "vcm-cd" && !capabilitiesOf(this.state.config.variant).reviewToClick) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `the ${this.state.config.variant} model cannot rank from words (mode vcm-cd); use mode vcm`);
    }
  }

  /** Ranking scores of a chunk, rows × numItems (the caller disposes them): VAEx's decoder logits, or the baseline's. */
  private async rankingLogits(matrix: CsrMatrix, rows: ReadonlyArray<number>, mode: PredictionMode): Promise<tf.Tensor2D> {
    const s = this.state;
    const variant = s.config.variant;
    if (isBaseline(variant)) return baselineOf(variant).logits({ params: s.params, config: s.config, matrix, rows, mode });
    const side: Side = mode === "vcm" ? "x" : "y";
    return tf.tidy(() => {
      const { mu } = encode({ params: s.params, side, input: sparseBatchTensors(sparseBatch({ matrix, rows }), matrix.cols) });
      return decode({ params: s.params, side: "x", z: mu });
    });
  }

  private assertLive(): void {
    if (this.disposed) throw new Error("Invariant failed: the model was disposed");
  }
}

/** The weights of a trained variant, in checkpoint order (the baselines' depend on their number of training users). */
function weightSpecs(o: { variant: Variant; numUsers: number; numItems: number; numWords: number; config: VcmConfig }): ParamSpec[] {
  if (isBaseline(o.variant)) return baselineOf(o.variant).specs(o);
  return paramSpecs(o);
}

/** Columns of row r of a CSR matrix (a view, no copy). */
function rowColumns(m: CsrMatrix, r: number): Int32Array {
  return m.indices.subarray(m.indptr[r], m.indptr[r + 1]);
}

/** The excluded columns of a chunk's rows, as CSR (indptr, columns) and as (row, column) pairs. */
function excludedEntries(m: CsrMatrix, rows: ReadonlyArray<number>): { indptr: Int32Array; columns: Int32Array; positions: Int32Array } {
  const indptr = new Int32Array(rows.length + 1);
  rows.forEach((r, b) => (indptr[b + 1] = indptr[b] + m.indptr[r + 1] - m.indptr[r]));
  const columns = new Int32Array(indptr[rows.length]);
  const positions = new Int32Array(2 * columns.length);
  rows.forEach((r, b) => {
    const cols = rowColumns(m, r);
    columns.set(cols, indptr[b]);
    for (let j = 0; j < cols.length; j += 1) {
      positions[2 * (indptr[b] + j)] = b;
      positions[2 * (indptr[b] + j) + 1] = cols[j];
    }
  });
  return { indptr, columns, positions };
}
