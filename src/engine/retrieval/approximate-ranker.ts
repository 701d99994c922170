/**
 * Approximate retrieval for large catalogues: the click decoder's logits are one inner product per
 * item, l_i = ⟨[h_u, 1], [W_i, b_i]⟩ with h_u the decoder's last hidden vector and (W_i, b_i) the
 * output layer's row and bias of item i, and a softmax ranks as its logits do, so a user's top k is a
 * maximum-inner-product search (mips-index.ts). The index is asked for CANDIDATE_FACTOR × (k + the
 * user's excluded clicks) items, whose logits are then computed exactly and ranked.
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
  /** [W_i, b_i] of items start…end−1, (end − start) × (dims + 1) row-major. */
  itemVectors(start: number, end: number): Promise<Float32Array>;
  /** The exact logits of `items` for each hidden vector (`hidden` rows × dims), one array per row aligned with its items. */
  logits(o: { hidden: Float32Array; items: ReadonlyArray<Int32Array> }): Promise<Float32Array[]>;
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

  private constructor(ranking: InnerProductRanking, index: MipsIndex) {
    this.#ranking = ranking;
    this.#index = index;
  }

  /** Builds the index over the model's output layer (seconds at 10⁵–10⁶ items: bench:scale). */
  static async build(ranking: InnerProductRanking): Promise<ApproximateRanker> {
    const index = await MipsIndex.build({ items: ranking.numItems, dims: ranking.dims + 1, read: (start, end) => ranking.itemVectors(start, end) });
    return new ApproximateRanker(ranking, index);
  }

  get numItems(): number {
    return this.#index.items;
  }
  /** Seconds the index took to build. */
  get buildSeconds(): number {
    return this.#index.buildSeconds;
  }
  /** Estimated bytes the index holds (the model's weights are counted with the model). */
  get bytes(): number {
    return this.#index.bytes;
  }

  /** The candidate pool for k items of a user with `excluded` clicks to leave out. */
  static poolSize(o: { k: number; excluded: number; numItems: number }): number {
    return Math.min(o.numItems, CANDIDATE_FACTOR * (o.k + o.excluded));
  }

  /**
   * The top k of each request's row, best first, leaving out its `exclude` columns: the index's
   * candidates re-ranked by their exact logits (ties to the lower column).
   */
  async top(o: { input: RowsInput; mode: PredictionMode; requests: ReadonlyArray<{ k: number; exclude: ArrayLike<number> }> }): Promise<RetrievedItems[]> {
    const { input, requests } = o;
    const dims = this.#ranking.dims;
    const hidden = await this.#ranking.hidden(input, o.mode);
    const pools = requests.map((r, b) => {
      const query = hidden.subarray(b * dims, (b + 1) * dims);
      const augmented = new Float32Array(dims + 1);
      augmented.set(query);
      augmented[dims] = 1;
      return this.#index.search(augmented, ApproximateRanker.poolSize({ k: r.k, excluded: r.exclude.length, numItems: this.numItems }));
    });
    const logits = await this.#ranking.logits({ hidden, items: pools });
    return requests.map((r, b) => rankPool({ items: pools[b], logits: logits[b], k: r.k, exclude: r.exclude }));
  }
}

/** The k best of a pool by logit, leaving out `exclude`, with the pool's softmax as scores. */
function rankPool(o: { items: Int32Array; logits: Float32Array; k: number; exclude: ArrayLike<number> }): RetrievedItems {
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
