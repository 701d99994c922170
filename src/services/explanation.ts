/**
 * Why an item suits a user, in words: the user's click2review distribution p(w|u) weighted by how
 * characteristic each word is of the item's reviews (a smoothed lift), normalised over the whole
 * vocabulary so that each word's weight is its share of the total tie between user and item.
 */
import { csrFromRows, type CsrMatrix } from "../data/csr.ts";
import { topK } from "../engine/metrics.ts";

/**
 * Dirichlet prior mass (in tokens) that pulls an item's word distribution toward the corpus: an item
 * with few reviewed tokens gets lifts near 1, so its explanation falls back to the user's own words.
 */
export const ITEM_WORD_SMOOTHING = 50;

/** Per-item word statistics of one dataset, computed once and cached. */
export interface ItemWordStats {
  /** Item × word counts of the words of the item's reviews that are in the vocabulary. */
  readonly itemWords: CsrMatrix;
  /** Tokens per item (row sums of itemWords). */
  readonly itemTotals: Float64Array;
  /** Add-one smoothed corpus frequency P(w) over all reviews; sums to 1. */
  readonly corpusProbability: Float64Array;
  /** Dirichlet smoothing mass μ. */
  readonly smoothing: number;
}

/** Builds the item × word count matrix from review texts, keeping only vocabulary words. */
export function itemWordMatrixFromTexts(options: {
  reviews: Iterable<{ readonly item: number; readonly text: string }>;
  numItems: number;
  vocabulary: ReadonlyArray<string>;
  tokenize: (text: string) => ReadonlyArray<string>;
}): CsrMatrix {
  const wordIndex = new Map<string, number>();
  options.vocabulary.forEach((word, index) => wordIndex.set(word, index));
  const counts: Array<Map<number, number>> = Array.from({ length: options.numItems }, () => new Map());
  for (const { item, text } of options.reviews) {
    const row = counts[item];
    for (const token of options.tokenize(text)) {
      const w = wordIndex.get(token);
      if (w !== undefined) row.set(w, (row.get(w) ?? 0) + 1);
    }
  }
  return csrFromRows({ cols: options.vocabulary.length, rows: counts.map((row) => [...row.entries()]) });
}

/** Corpus probabilities and item totals for the lift computation. */
export function buildItemWordStats(options: { itemWords: CsrMatrix; smoothing?: number }): ItemWordStats {
  const { itemWords } = options;
  const smoothing = options.smoothing ?? ITEM_WORD_SMOOTHING;
  const itemTotals = new Float64Array(itemWords.rows);
  const wordTotals = new Float64Array(itemWords.cols);
  let total = 0;
  for (let i = 0; i < itemWords.rows; i += 1) {
    for (let p = itemWords.indptr[i]; p < itemWords.indptr[i + 1]; p += 1) {
      itemTotals[i] += itemWords.values[p];
      wordTotals[itemWords.indices[p]] += itemWords.values[p];
    }
    total += itemTotals[i];
  }
  const corpusProbability = new Float64Array(itemWords.cols);
  for (let w = 0; w < itemWords.cols; w += 1) {
    corpusProbability[w] = (wordTotals[w] + 1) / (total + itemWords.cols);
  }
  return { itemWords, itemTotals, corpusProbability, smoothing };
}

/** One word of an explanation. */
export interface ExplanationWord {
  /** Column of the word in the dataset's vocabulary. */
  readonly wordIndex: number;
  /** tie(w) / Σ_v tie(v): this word's share of the whole user–item tie; all V weights sum to 1. */
  readonly weight: number;
  /** p(w|u): the user's click2review probability of the word. */
  readonly userProbability: number;
  /** lift(w, i) = P(w|i) / P(w): how much more often the item's reviews use the word than the corpus. */
  readonly lift: number;
}

/** The words that tie a user to an item. */
export interface Explanation {
  /** The k words with the largest weights, largest first. */
  readonly words: ReadonlyArray<ExplanationWord>;
  /** Sum of the returned words' weights: the fraction of the whole tie that they carry. */
  readonly coveredShare: number;
  /**
   * Σ_w p(w|u) · lift(w, i): the expected lift of the user's words in the item's reviews; above 1
   * means the item's reviews use this user's words more than the corpus does.
   */
  readonly affinity: number;
  /** Tokens of the item's reviews that were in the vocabulary (0: weights are the user's own p(w|u)). */
  readonly itemTokens: number;
}

/**
 * Explains one (user, item) pair. With c_iw the item's count of word w and n_i its total,
 * P(w|i) = (c_iw + μ·P(w)) / (n_i + μ), lift = P(w|i) / P(w), tie(w) = p(w|u) · lift and
 * weight(w) = tie(w) / Σ_v tie(v). Words outside the item's reviews share one lift μ / (n_i + μ),
 * so the sum and the ranking need only the item's own words plus the user's best other words.
 */
export function explainPair(options: {
  stats: ItemWordStats;
  /** p(w|u) over the vocabulary (one row of the engine's click2review output). */
  userWords: ArrayLike<number>;
  /** The user's words ordered by p(w|u), best first; at least k + |item words| long, or all V. */
  userTopWords: ArrayLike<number>;
  item: number;
  k: number;
}): Explanation {
  const { stats, userWords, userTopWords, item, k } = options;
  const { itemWords, corpusProbability, smoothing } = stats;
  const itemTokens = stats.itemTotals[item];
  const baseLift = smoothing / (itemTokens + smoothing);
  let userMass = 0;
  for (let w = 0; w < userWords.length; w += 1) userMass += userWords[w];
  // Σ_w tie(w) = baseLift · Σ_w p(w|u) + Σ_{w ∈ item} p(w|u) · c_iw / ((n_i + μ) · P(w)).
  let total = baseLift * userMass;
  const start = itemWords.indptr[item];
  const end = itemWords.indptr[item + 1];
  const itemLift = new Map<number, number>();
  for (let p = start; p < end; p += 1) {
    const w = itemWords.indices[p];
    const extra = itemWords.values[p] / ((itemTokens + smoothing) * corpusProbability[w]);
    itemLift.set(w, baseLift + extra);
    total += userWords[w] * extra;
  }
  // Candidates: every word of the item, plus the user's best k words that the item never uses.
  const candidates: number[] = [...itemLift.keys()];
  let taken = 0;
  for (let j = 0; j < userTopWords.length && taken < k; j += 1) {
    const w = userTopWords[j];
    if (!itemLift.has(w)) {
      candidates.push(w);
      taken += 1;
    }
  }
  const ties = candidates.map((w) => userWords[w] * (itemLift.get(w) ?? baseLift));
  const order = topK({ scores: ties, k: Math.min(k, candidates.length) });
  const words: ExplanationWord[] = [];
  let coveredShare = 0;
  for (const j of order) {
    const w = candidates[j];
    const weight = total > 0 ? ties[j] / total : 0;
    coveredShare += weight;
    words.push({ wordIndex: w, weight, userProbability: userWords[w], lift: itemLift.get(w) ?? baseLift });
  }
  return { words, coveredShare, affinity: total, itemTokens };
}

/** How many of a user's best words explainPair may need beyond an item's own words. */
export function userTopWordsNeeded(options: { stats: ItemWordStats; item: number; k: number }): number {
  const { itemWords } = options.stats;
  return options.k + itemWords.indptr[options.item + 1] - itemWords.indptr[options.item];
}
