/**
 * A trained VCM model (any of its ablations: vcm, vcm-se, vcm-od, vcm-nv) and its batched predictions:
 * VCM ranks items from z = μx(x_u); VCM-CD from r = μy(y_u); click2review decodes words from
 * z = μx(x_u); the capacity is ĉu = KL(qx(z | x_u) ‖ N(0, I)) (docs/model.md §1).
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import { ErrorCode, invariant, UserError } from "../../../errors.ts";
import { sparseBatch } from "../../batch.ts";
import { resolveStoredVcmConfig } from "../../config.ts";
import type { InnerProductRanking } from "../../retrieval/approximate-ranker.ts";
import { packLayer, sparseBatchTensors, type PackedLayer } from "../../runtime/index.ts";
import { isVcmVariant, type ModelSnapshot, type PredictionMode, type RowsInput, type Side } from "../../types.ts";
import { paramsFromWeights, type ParamSpec } from "../params.ts";
import { checkMode, requireCapability, type ReasonEffectsInput } from "../recommender.ts";
import { WeightModel, type WeightModelState } from "../weight-model.ts";
import { klToStandardNormal } from "./losses.ts";
import { decode, decodeHidden, decodeItemBlock, encode, paramSpecs } from "./vae.ts";
import { clickDeletionEffects, clickDeletionGroup, type ClickEffectPair } from "./click-effects.ts";
import { groupedDeletionEffects, type DeletionGroup } from "./deletion.ts";
import { bagWordEffects, deletionEffects, outputLayerRows, wordDeletionGroup, type DeletionRequest, type WordEffectPair } from "./word-effects.ts";

/** Hidden rows of W_out read per call when approximate retrieval copies the output layer (16 × 10⁶ items: 64 MB). */
const OUTPUT_ROWS_PER_READ = 16;

export class VcmModel extends WeightModel {
  /**
   * Whether the weights can no longer change (a model rebuilt from a snapshot): only then is W_outᵀ
   * kept for the first-order word effects, since training updates some tensors in place, where a copy
   * would go stale unseen.
   */
  private fixedWeights = false;
  /** W_outᵀ for the first-order word effects, made on their first call: 24 MB at the Yelp shape, one copy per loaded model. */
  private outputRows: tf.Tensor2D | undefined;
  /**
   * W_out packed for the exact deletions on AMX bfloat16 tiles (runtime packLayer), made on their first
   * call where the tiles are in use and the layer is large: 24 MB at the Yelp shape, one copy per loaded model.
   */
  private packedOutput: PackedLayer | undefined;

  /** Wraps parameters that the caller hands over; used by training. */
  static create(state: WeightModelState): VcmModel {
    invariant(isVcmVariant(state.config.variant), `a VcmModel holds a VCM variant, not ${state.config.variant}`);
    return new VcmModel(state);
  }

  /** Rebuilds a model from a snapshot on the current backend, checking every weight's name and shape. */
  static fromSnapshot(s: ModelSnapshot): VcmModel {
    const config = resolveStoredVcmConfig({ ...s.config, variant: s.variant });
    const params = paramsFromWeights(paramSpecs({ numItems: s.numItems, numWords: s.numWords, config }), s.weights);
    const model = VcmModel.create({ config, backend: s.backend, device: s.device ?? s.backend, numItems: s.numItems, numWords: s.numWords, history: s.history, bestEpoch: s.bestEpoch, params });
    model.fixedWeights = true;
    return model;
  }

  protected specs(): ParamSpec[] {
    return paramSpecs({ numItems: this.state.numItems, numWords: this.state.numWords, config: this.state.config });
  }

  /** click2review: VAEy's decoder softmax on z = μx(x_u), rows.length × numWords row-major. */
  override async wordDistribution(input: RowsInput): Promise<Float32Array> {
    this.assertLive();
    requireCapability(this.variant, "wordDistribution");
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
   * `words` (word-effects.ts).
   */
  override async wordEffects(o: { words: CsrMatrix; pairs: ReadonlyArray<WordEffectPair> }): Promise<Float32Array[]> {
    this.checkEffectInput(o.words, o.pairs);
    if (this.fixedWeights) this.outputRows ??= outputLayerRows(this.state.params);
    return bagWordEffects({ params: this.state.params, outputRows: this.outputRows, words: o.words, pairs: o.pairs });
  }

  protected override release(): void {
    this.outputRows?.dispose();
    this.outputRows = undefined;
    this.packedOutput = undefined;
    super.release();
  }

  /** The packed output layer for the exact deletions, for a model whose weights no longer change (else float32, as for outputRows). */
  private packedOutputLayer(): PackedLayer | undefined {
    if (this.fixedWeights) this.packedOutput ??= packLayer(this.state.params.get("x.out.W") as tf.Tensor2D);
    return this.packedOutput;
  }

  /**
   * For each request, δ(w) = 1 − π_ui(y ∖ w) / π_ui(y) (VCM-CD) of each word asked for: the exact
   * relative fall of the item's score when the word leaves the user's bag (word-effects.ts).
   */
  override async deletionEffects(o: { words: CsrMatrix; requests: ReadonlyArray<DeletionRequest> }): Promise<Float32Array[]> {
    this.checkEffectInput(o.words, o.requests);
    return deletionEffects({ params: this.state.params, words: o.words, requests: o.requests, packed: this.packedOutputLayer() });
  }

  /**
   * For each (user row, item) pair, δ(j) = 1 − π_ui(x ∖ j) / π_ui(x) (VCM) of every click j of the
   * user's history: the exact relative fall of the item's score when the click alone leaves it,
   * aligned with the row's entries of `clicks` (click-effects.ts).
   */
  override async clickEffects(o: { clicks: CsrMatrix; pairs: ReadonlyArray<ClickEffectPair> }): Promise<Float32Array[]> {
    this.checkClickInput(o.clicks, o.pairs);
    return clickDeletionEffects({ params: this.state.params, clicks: o.clicks, pairs: o.pairs, packed: this.packedOutputLayer() });
  }

  /**
   * clickEffects and deletionEffects in one call: both kinds of deleted row are decoded by VAEx, so
   * they go through its output layer in the same passes (deletion.ts groupedDeletionEffects).
   */
  override async reasonEffects(o: ReasonEffectsInput): Promise<{ clicks: Float32Array[]; words: Float32Array[] }> {
    const groups: DeletionGroup[] = [];
    if (o.clickPairs.length > 0) {
      this.checkClickInput(o.clicks, o.clickPairs);
      groups.push(clickDeletionGroup({ clicks: o.clicks, pairs: o.clickPairs }));
    }
    if (o.wordRequests.length > 0) {
      this.checkEffectInput(o.words, o.wordRequests);
      groups.push(wordDeletionGroup({ words: o.words, requests: o.wordRequests }));
    }
    const effects = groups.length === 0 ? [] : await groupedDeletionEffects({ params: this.state.params, groups, packed: this.packedOutputLayer() });
    const clicks = o.clickPairs.length > 0 ? effects[0] : [];
    const words = o.wordRequests.length > 0 ? effects[groups.length - 1] : [];
    return { clicks, words };
  }

  private checkClickInput(clicks: CsrMatrix, pairs: ReadonlyArray<ClickEffectPair>): void {
    this.assertLive();
    requireCapability(this.variant, "clickEffects");
    this.checkInput({ matrix: clicks, rows: pairs.map((p) => p.row) }, "x");
    this.checkItems(pairs);
  }

  private checkItems(pairs: ReadonlyArray<{ readonly item: number }>): void {
    for (const p of pairs) {
      if (!Number.isInteger(p.item) || p.item < 0 || p.item >= this.state.numItems) {
        throw new UserError(ErrorCode.BAD_USER_INPUT, `item ${p.item} is outside the model's ${this.state.numItems} items`);
      }
    }
  }

  private checkEffectInput(words: CsrMatrix, pairs: ReadonlyArray<WordEffectPair>): void {
    this.assertLive();
    requireCapability(this.variant, "wordEffects");
    checkMode(this.variant, "vcm-cd");
    this.checkInput({ matrix: words, rows: pairs.map((p) => p.row) }, "y");
    this.checkItems(pairs);
  }

  /** Capacity ĉu = KL(qx(z | x_u) ‖ N(0, I)) per row of click input. */
  override async capacity(input: RowsInput): Promise<Float32Array> {
    this.assertLive();
    requireCapability(this.variant, "capacity");
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
  override async latent(input: RowsInput, side: Side): Promise<{ mu: Float32Array; logVar: Float32Array }> {
    this.assertLive();
    requireCapability(this.variant, "latent");
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

  /**
   * VAEx's decoder logits as inner products: h = tanh(z·W_dec + b_dec) against the output layer's
   * columns [W_out[:, i], b_out[i]] (approximate retrieval copies them in chunks to build its index).
   */
  innerProductRanking(): InnerProductRanking {
    const s = this.state;
    const dims = s.config.hiddenX;
    return {
      numItems: s.numItems,
      dims,
      hidden: async (input, mode) => {
        this.assertLive();
        checkMode(this.variant, mode);
        this.checkInput(input, mode === "vcm" ? "x" : "y");
        const out = new Float32Array(input.rows.length * dims);
        await this.inChunks(input, async (rows, offset) => {
          const h = tf.tidy(() => {
            const { mu } = encode({ params: s.params, side: mode === "vcm" ? "x" : "y", input: sparseBatchTensors(sparseBatch({ matrix: input.matrix, rows }), input.matrix.cols) });
            return decodeHidden({ params: s.params, side: "x", z: mu });
          });
          try {
            out.set((await h.data()) as Float32Array, offset * dims);
          } finally {
            h.dispose();
          }
        });
        return out;
      },
      outputRows: async () => {
        this.assertLive();
        const w = s.params.get("x.out.W") as tf.Tensor2D;
        const items = s.numItems;
        const width = dims + 1;
        const rows = new Float32Array(items * width);
        const bias = (await s.params.get("x.out.b")!.data()) as Float32Array;
        for (let i = 0; i < items; i += 1) rows[i * width + dims] = bias[i];
        // Contiguous blocks of W_out's hidden rows: a block of its item columns would be read through a copy of the whole tensor.
        for (let h0 = 0; h0 < dims; h0 += OUTPUT_ROWS_PER_READ) {
          const h1 = Math.min(dims, h0 + OUTPUT_ROWS_PER_READ);
          const block = tf.slice(w, [h0, 0], [h1 - h0, items]);
          try {
            const values = (await block.data()) as Float32Array;
            for (let h = h0; h < h1; h += 1) {
              const offset = (h - h0) * items;
              for (let i = 0; i < items; i += 1) rows[i * width + h] = values[offset + i];
            }
          } finally {
            block.dispose();
          }
        }
        return rows;
      },
    };
  }

  /** VAEx's decoder hidden layer on z = μx(clicks) (mode "vcm") or r = μy(words) (mode "vcm-cd"). */
  protected async rankingHead(matrix: CsrMatrix, rows: ReadonlyArray<number>, mode: PredictionMode): Promise<tf.Tensor2D> {
    const params = this.state.params;
    const side: Side = mode === "vcm" ? "x" : "y";
    return tf.tidy(() => {
      const { mu } = encode({ params, side, input: sparseBatchTensors(sparseBatch({ matrix, rows }), matrix.cols) });
      return decodeHidden({ params, side: "x", z: mu });
    });
  }

  /** VAEx's output layer on the hidden layer, for items [start, end) only. */
  protected rankingBlock(head: tf.Tensor2D, block: { start: number; end: number }): tf.Tensor2D {
    return tf.tidy(() => decodeItemBlock({ params: this.state.params, hidden: head, ...block }));
  }
}
