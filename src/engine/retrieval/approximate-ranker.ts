/**
 * Approximate retrieval for large catalogues: the click decoder's logits are one inner product per
 * item, l_i = ⟨[h_u, 1], [W_i, b_i]⟩ with h_u the decoder's last hidden vector and (W_i, b_i) the
 * output layer's row and bias of item i, and a softmax ranks as its logits do, so a user's top k is a
 * maximum-inner-product search (mips-index.ts). The index is asked for CANDIDATE_FACTOR × (k + the
 * user's excluded clicks) items, whose logits are then computed exactly from a float32 copy of the
 * output layer's rows on the host: a backend's column gather of W_out reads the whole tensor
 * (≈ 35 ms at 100,000 × 200 on wasm), a host row is 201 numbers away.
 */
import type { PredictionMode, RowsInput } from "../types.ts";
import { MipsIndex } from "./mips-index.ts";
import { CANDIDATE_FACTOR } from "./retrieval-mode.ts";

/** A model whose ranking logits are ⟨[h_u, 1], [W_i, b_i]⟩ (Recommender.innerProductRanking). */
export interface InnerProductRanking {
  readonly numItems: number;
  /** Width of h_u (the item vectors have one more number, the bias). */
  readonly dims: number;
  /** h_u of each row, rows.length × dims row-major, from clicks (mode "vcm") or words ("vcm-cd"). */
  hidden(input: RowsInput, mode: PredictionMode): Promise<Float32Array>;
  /** [W_i, b_i] of every item, numItems × (dims + 1) row-major, a copy on the host. */
  outputRows(): Promise<Float32Array>;
}

/** One user's top k: item columns best first, and their softmax over the candidate pool. */
export interface RetrievedItems {
  readonly items: Int32Array;
  /**
   * exp(l_i) / Σ_{j ∈ pool} exp(l_j) over the candidates the index gave (excluded clicks included):
   * π_ui when the pool holds every item, otherwise an upper bound of it.
   */
  readonly scores: Float32Array;
}

export class ApproximateRanker {
  readonly #ranking: InnerProductRanking;
  readonly #index: MipsIndex;
  /** [W_i, b_i] of every item, items × (dims + 1) row-major: the exact re-ranking's weights. */
  readonly #vectors: Float32Array;
  /** Seconds the host copy and the index took to build. */
  readonly buildSeconds: number;

  private constructor(o: { ranking: InnerProductRanking; index: MipsIndex; vectors: Float32Array; buildSeconds: number }) {
    this.#ranking = o.ranking;
    this.#index = o.index;
    this.#vectors = o.vectors;
    this.buildSeconds = o.buildSeconds;
  }

  /** Copies the model's output layer to the host and builds the index over it (minutes at 10⁵–10⁶ items on one thread: bench:scale). */
  static async build(ranking: InnerProductRanking): Promise<ApproximateRanker> {
    const started = performance.now();
    const width = ranking.dims + 1;
    const vectors = await ranking.outputRows();
    const index = await MipsIndex.build({ items: ranking.numItems, dims: width, read: async (start, end) => vectors.subarray(start * width, end * width) });
    return new ApproximateRanker({ ranking, index, vectors, buildSeconds: (performance.now() - started) / 1000 });
  }

  get numItems(): number {
    return this.#index.items;
  }
  /** Estimated bytes held besides the model's own weights: the index and the host copy of the output layer. */
  get bytes(): number {
    return this.#index.bytes + this.#vectors.byteLength;
  }

  /** The candidate pool for k items of a user with `excluded` clicks to leave out. */
  static poolSize(o: { k: number; excluded: number; numItems: number; factor?: number }): number {
    return Math.min(o.numItems, (o.factor ?? CANDIDATE_FACTOR) * (o.k + o.excluded));
  }

  /**
   * The top k of each request's row, best first, leaving out its `exclude` columns: the index's
   * candidates re-ranked by their exact logits (ties to the lower column). `candidateFactor` replaces
   * CANDIDATE_FACTOR (bench:scale measures others).
   */
  async top(o: {
    input: RowsInput;
    mode: PredictionMode;
    requests: ReadonlyArray<{ k: number; exclude: ArrayLike<number> }>;
    candidateFactor?: number;
  }): Promise<RetrievedItems[]> {
    const { input, requests } = o;
    const dims = this.#ranking.dims;
    const width = dims + 1;
    const hidden = await this.#ranking.hidden(input, o.mode);
    return requests.map((r, b) => {
      const query = new Float32Array(width);
      query.set(hidden.subarray(b * dims, (b + 1) * dims));
      query[dims] = 1;
      const items = this.#index.search(query, ApproximateRanker.poolSize({ k: r.k, excluded: r.exclude.length, numItems: this.numItems, factor: o.candidateFactor }));
      const logits = new Float64Array(items.length);
      items.forEach((item, j) => {
        let dot = 0;
        for (let d = 0; d < width; d += 1) dot += query[d] * this.#vectors[item * width + d];
        logits[j] = dot;
      });
      return rankPool({ items, logits, k: r.k, exclude: r.exclude });
    });
  }
}

/** The k best of a pool by logit, leaving out `exclude`, with the pool's softmax as scores. */
function rankPool(o: { items: Int32Array; logits: Float64Array; k: number; exclude: ArrayLike<number> }): RetrievedItems {
  const { items, logits } = o;
  let max = Number.NEGATIVE_INFINITY;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const excluded = new Set(Array.from(o.exclude));
  const order = Array.from(items.keys())
    .filter((j) => !excluded.has(items[j]))
    .sort((a, b) => logits[b] - logits[a] || items[a] - items[b])
    .slice(0, o.k);
  return {
    items: Int32Array.from(order, (j) => items[j]),
    scores: Float32Array.from(order, (j) => Math.exp(logits[j] - max) / sum),
  };
}
