/**
 * Why an item suits a user, in words under one of three rules (ExplanationRule), and in clicks
 * (explainByClicks: the clicked items whose removal from the history lowers the item's score the most;
 * clickReasonOf: what the whole history does when no single click holds the score up). The default,
 * "effect", lists words of the user's own bag that the item's reviews use more than the corpus does
 * (lift > 1) and that hold up the item's review2click (VCM-CD) score, ranked by p(w|u) times that
 * effect, so that the listed words are evidence about the user in the model's own sense: removing any
 * one of them from the user's text lowers the item's score. "evidence" ranks the lift > 1 words by p(w|u) alone;
 * "lift" is the first version's rule, p(w|u) · lift over the whole vocabulary.
 * Pure functions over arrays (no tensors): the services pass in the engine's outputs.
 */
import type { CsrMatrix } from "../data/csr.ts";

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
  /** Per stored entry of itemWords: c_iw / ((n_i + μ) · P(w)), the lift a word gains from the item's reviews. */
  readonly itemExtraLift: Float64Array;
  /** Per item: μ / (n_i + μ), the lift of every word its reviews do not use. */
  readonly baseLift: Float64Array;
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
  const itemExtraLift = new Float64Array(itemWords.indices.length);
  const baseLift = new Float64Array(itemWords.rows);
  for (let i = 0; i < itemWords.rows; i += 1) {
    baseLift[i] = smoothing / (itemTotals[i] + smoothing);
    for (let p = itemWords.indptr[i]; p < itemWords.indptr[i + 1]; p += 1) {
      itemExtraLift[p] = itemWords.values[p] / ((itemTotals[i] + smoothing) * corpusProbability[itemWords.indices[p]]);
    }
  }
  return { itemWords, itemTotals, corpusProbability, smoothing, itemExtraLift, baseLift };
}

/** lift(w, i) = P(w|i) / P(w) of the word stored at entry `p` of item `item`'s row of itemWords: the one formula every rule and characteristicWords read. */
export function entryLift(stats: ItemWordStats, item: number, p: number): number {
  return stats.baseLift[item] + stats.itemExtraLift[p];
}

/** A word of an item's reviews with its lift and its count there (characteristicWords). */
export interface CharacteristicWord {
  /** Column of the word in the dataset's vocabulary. */
  readonly wordIndex: number;
  /** lift(w, i), as the explanations compute it (entryLift). */
  readonly lift: number;
  /** Occurrences of the word in the item's reviews. */
  readonly count: number;
}

/**
 * The k words the item's reviews use most against the corpus: the words of its reviews ranked by
 * lift(w, i), largest first (lifts equal up to rounding: the larger count, then the lower column).
 * Empty for an item without review text: only words of its reviews are ranked.
 */
export function characteristicWords(options: { stats: ItemWordStats; item: number; k: number }): CharacteristicWord[] {
  const { stats, item } = options;
  const { indptr, indices, values } = stats.itemWords;
  const words: CharacteristicWord[] = [];
  for (let p = indptr[item]; p < indptr[item + 1]; p += 1) words.push({ wordIndex: indices[p], lift: entryLift(stats, item, p), count: values[p] });
  words.sort((a, b) => (sameLift(a.lift, b.lift) ? 0 : b.lift - a.lift) || b.count - a.count || a.wordIndex - b.wordIndex);
  return words.slice(0, options.k);
}

/** Lifts equal up to rounding: words whose count over corpus count is the same have equal lifts, computed along different roundings. */
function sameLift(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * How the words of an explanation are chosen and weighted:
 * - "effect": candidates are the words w of the user's bag of words y_u with lift(w, i) > 1. The
 *   first-order effect e(w) = y_w · ∂ log π_ui(y_u) / ∂ y_w on the item's review2click (VCM-CD) score
 *   (engine/models/vcm/word-effects.ts) shortlists the EFFECT_SHORTLIST · k candidates with the largest
 *   p(w|u) · e(w) among those with e(w) > 0; each of them gets its exact effect
 *   δ(w) = 1 − π_ui(y_u ∖ w) / π_ui(y_u), the relative fall of the item's score when w alone leaves the
 *   bag. Listed: the shortlisted words with δ(w) > 0, ranked by score(w) = p(w|u) · δ(w);
 *   weight = score(w) / Σ of score(v) over those words. Words whose removal would raise the item's
 *   score are never listed, so fewer than k words (or none) may come back. A user with an empty bag
 *   falls back to "evidence", an item without review text to "lift". (Measured and not kept, in
 *   BENCHMARKS.md: the first-order effects alone, p(w|u) alone among e > 0, e(w) alone.)
 * - "evidence": the words with lift(w, i) > 1 (only words of the item's reviews can have it), ranked
 *   by p(w|u); weight = p(w|u) / Σ of p(v|u) over those words, i.e. each word's share of the user's
 *   mass on what the item's reviews over-use. An item without review text falls back to "lift", whose
 *   weights are then the user's own p(w|u). (p(w|u) · ln lift was measured too: on the small Amazon
 *   files it listed rare item-specific words again, support 0.01–0.58; BENCHMARKS.md.)
 * - "lift": tie(w) = p(w|u) · lift(w, i) over the whole vocabulary; weight = tie / Σ_v tie(v).
 */
export type ExplanationRule = "effect" | "evidence" | "lift";

export const DEFAULT_EXPLANATION_RULE: ExplanationRule = "effect";

/** One word of an explanation. */
export interface ExplanationWord {
  /** Column of the word in the dataset's vocabulary. */
  readonly wordIndex: number;
  /** This word's share of the rule's total (ExplanationRule); over every candidate word the weights sum to 1. */
  readonly weight: number;
  /** p(w|u): the user's click2review probability of the word. */
  readonly userProbability: number;
  /** lift(w, i) = P(w|i) / P(w): how much more often the item's reviews use the word than the corpus. */
  readonly lift: number;
  /** Rule "effect" only: δ(w), the relative fall of the item's review2click score when the word leaves the user's bag. */
  readonly effect?: number;
}

/** Effects of words of a user's bag on one item's review2click score, e(w) or δ(w) (ExplanationRule "effect"). */
export interface BagEffects {
  /** Words of the bag (vocabulary columns), ascending. */
  readonly words: ArrayLike<number>;
  /** e(w) of each of them, in the same order. */
  readonly effects: ArrayLike<number>;
}

/** One clicked item of an explanation. */
export interface ExplanationClick {
  /** Column of the clicked item in the dataset. */
  readonly item: number;
  /** δ(j) = 1 − π_ui(x_u ∖ j) / π_ui(x_u): the relative fall of the item's VCM score when this click alone leaves the user's history. */
  readonly effect: number;
}

/**
 * The clicks listed are the fewest, largest effect first, whose effects δ(j) add up to at least this
 * share of the sum over all clicks with δ > 0: the clicks the score mainly rests on. Listing every click
 * with δ > 0 (the first rule) gave 3.9 clicks a pair on generated data whose joint removal took only
 * 2.1× what as many random clicks took, the weak ones adding little beyond a random click; this rule
 * lists 2.3 and reaches 3.7× (BENCHMARKS.md, bench:explain, where the variants tried are measured too).
 */
export const CLICK_COVERAGE = 0.5;

/**
 * Which kind of reason the user's clicks give for an item (clickReasonOf), decided by the model's scores:
 * - "clicks": some click alone lowers the item's score when it leaves the history (Explanation.clicks lists them);
 * - "history": no click alone does, but the whole history does: the item scores lower for a user with no
 *   clicks, Δ = 1 − π_i(∅) / π_ui(x_u) > 0 (the clicks hold the score up together, none of them alone);
 * - "popularity": the item scores at least as high for a user with no clicks (Δ ≤ 0), so the user's
 *   clicks do not carry it: it stands on what the model gives every user, its ranking for an empty
 *   history (priorRank), which follows the items' training clicks (Spearman ρ 0.67 and 0.88 on the
 *   Amazon files, BENCHMARKS.md).
 */
export type ClickReasonKind = "clicks" | "history" | "popularity";

/** The item's VCM scores that decide the kind of click reason: with the user's whole history and with none. */
export interface HistoryScores {
  /** π_ui(x_u): the item's VCM score from the user's whole training history. */
  readonly score: number;
  /** π_i(∅): the item's VCM score for a user with no clicks (the same for every user). */
  readonly priorScore: number;
  /** The item's 1-based place in the ranking of all items for a user with no clicks. */
  readonly priorRank: number;
}

/** What the user's clicks say about an item, whether or not a single click holds its score up. */
export interface ClickReason {
  readonly kind: ClickReasonKind;
  /** Δ = 1 − π_i(∅) / π_ui(x_u): the relative fall of the item's score when the whole history leaves (≤ 0: it does not fall). */
  readonly historyEffect: number;
  /** The item's 1-based place in the ranking for a user with no clicks. */
  readonly priorRank: number;
}

/** The effects of the clicks of a user's history on one item's VCM score, δ(j) (explainByClicks). */
export interface ClickEffects {
  /** Clicked items (columns), ascending. */
  readonly clicks: ArrayLike<number>;
  /** δ(j) of each of them, in the same order. */
  readonly effects: ArrayLike<number>;
}

/** The words and clicks that tie a user to an item. */
export interface Explanation {
  /** The k words with the largest weights, largest first. */
  readonly words: ReadonlyArray<ExplanationWord>;
  /** At most k clicks with the largest effects, largest first (explainByClicks); empty when none was given or none lowers the score. */
  readonly clicks: ReadonlyArray<ExplanationClick>;
  /** The kind of reason the clicks give (clickReasonOf); absent when no click effects or history scores were given, or the user has no clicks. */
  readonly clickReason?: ClickReason;
  /** Sum of the returned words' weights: the fraction of the whole tie that they carry. */
  readonly coveredShare: number;
  /**
   * Σ_w p(w|u) · lift(w, i): the expected lift of the user's words in the item's reviews; above 1
   * means the item's reviews use this user's words more than the corpus does.
   */
  readonly affinity: number;
  /** Tokens of the item's reviews that were in the vocabulary (0: weights are the user's own p(w|u)). */
  readonly itemTokens: number;
  /** The rule that chose the words: the one asked for, or the one it fell back to ("effect" → "evidence" → "lift"). */
  readonly rule: ExplanationRule;
}

/**
 * Explains one (user, item) pair. With c_iw the item's count of word w and n_i its total,
 * P(w|i) = (c_iw + μ·P(w)) / (n_i + μ), lift = P(w|i) / P(w), tie(w) = p(w|u) · lift and
 * weight(w) = tie(w) / Σ_v tie(v). Words outside the item's reviews share one lift μ / (n_i + μ),
 * so the sum and the ranking need only the item's own words plus the user's best other words,
 * taken in order of p(w|u) until they can no longer enter the top k.
 */
export function explainPair(options: {
  stats: ItemWordStats;
  /** p(w|u) over the vocabulary (one row of the engine's click2review output). */
  userWords: ArrayLike<number>;
  /** Σ_w p(w|u) (1 up to rounding for a softmax); computed once per user by the caller. */
  userMass?: number;
  /** The user's words ordered by p(w|u), best first, at least `depth` of them (cached by the caller). */
  userTopWords: (depth: number) => ArrayLike<number>;
  item: number;
  k: number;
  rule?: ExplanationRule;
  /** For rule "effect": the effects of the user's bag words on this item's score (absent or empty: "evidence"). */
  bagEffects?: BagEffects;
  /** The effects of the user's clicks on this item's VCM score, whatever the rule (absent: no clicks listed). */
  clickEffects?: ClickEffects;
  /** The item's scores with the whole history and with none (absent: no clickReason). */
  history?: HistoryScores;
}): Explanation {
  const clicks = options.clickEffects === undefined ? [] : explainByClicks({ ...options.clickEffects, k: options.k });
  const words = explainByWords(options);
  // A user without clicks has no click reason of any kind: the empty history is the comparison itself.
  if (options.clickEffects === undefined || options.clickEffects.clicks.length === 0 || options.history === undefined) return { ...words, clicks };
  return { ...words, clicks, clickReason: clickReasonOf({ clicks, history: options.history }) };
}

/**
 * The click reasons of one (user, item) pair: the clicks j with δ(j) > 0, ranked by δ(j), largest
 * first (equal effects: the lower item column first); listed, the shortest head of that ranking whose
 * effects sum to at least `coverage` (CLICK_COVERAGE unless given; 1 gives the first rule, every click
 * with δ > 0) of the sum over all of them, at most k clicks. A click whose removal would raise the
 * item's score is never listed, so fewer than k (or none) may come back.
 */
export function explainByClicks(options: ClickEffects & { k: number; coverage?: number }): ExplanationClick[] {
  const { clicks, effects, k } = options;
  const ranked: ExplanationClick[] = [];
  for (let t = 0; t < clicks.length; t += 1) {
    if (effects[t] > 0) ranked.push({ item: clicks[t], effect: effects[t] });
  }
  ranked.sort((a, b) => b.effect - a.effect || a.item - b.item);
  // Summed in the ranking's order, so that coverage 1 stops exactly at the last click.
  const total = ranked.reduce((sum, c) => sum + c.effect, 0);
  const wanted = (options.coverage ?? CLICK_COVERAGE) * total;
  const listed: ExplanationClick[] = [];
  let covered = 0;
  for (const click of ranked) {
    if (listed.length >= k || (listed.length > 0 && covered >= wanted)) break;
    listed.push(click);
    covered += click.effect;
  }
  return listed;
}

/**
 * The kind of reason the clicks give (ClickReasonKind): "clicks" when any is listed, else "history"
 * when the whole history raises the item's score above a user's with no clicks, else "popularity".
 */
export function clickReasonOf(options: { clicks: ReadonlyArray<ExplanationClick>; history: HistoryScores }): ClickReason {
  const { score, priorScore, priorRank } = options.history;
  const historyEffect = 1 - priorScore / score;
  const kind: ClickReasonKind = options.clicks.length > 0 ? "clicks" : historyEffect > 0 ? "history" : "popularity";
  return { kind, historyEffect, priorRank };
}

/** 1-based place of each item in a ranking by score, largest first (equal scores: the lower column first, as topK orders them). */
export function ranksOf(scores: ArrayLike<number>): Int32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const ranks = new Int32Array(scores.length);
  order.forEach((item, place) => (ranks[item] = place + 1));
  return ranks;
}

/** The word part of explainPair: the rule asked for, or the one it falls back to. */
function explainByWords(options: Parameters<typeof explainPair>[0]): Omit<Explanation, "clicks"> {
  const { stats, userWords, item, k } = options;
  const rule = options.rule ?? DEFAULT_EXPLANATION_RULE;
  if (stats.itemTotals[item] > 0) {
    if (rule === "effect" && options.bagEffects !== undefined && options.bagEffects.words.length > 0) return explainByEffect(options, options.bagEffects);
    if (rule !== "lift") return explainByEvidence(options);
  }
  const { itemWords, itemExtraLift } = stats;
  const itemTokens = stats.itemTotals[item];
  const baseLift = stats.baseLift[item];
  const userMass = options.userMass ?? sumOf(userWords);
  const start = itemWords.indptr[item];
  const end = itemWords.indptr[item + 1];
  const best = new TopList(k);
  // Σ_w tie(w) = baseLift · Σ_w p(w|u) + Σ_{w ∈ item} p(w|u) · extra(w).
  let total = baseLift * userMass;
  for (let p = start; p < end; p += 1) {
    const w = itemWords.indices[p];
    const extra = userWords[w] * itemExtraLift[p];
    total += extra;
    best.offer(w, userWords[w] * baseLift + extra, entryLift(stats, item, p));
  }
  // Other words in order of p(w|u): their ties fall with p, so stop once one cannot enter the list.
  let depth = Math.min(userWords.length, 4 * k + 16);
  let scanned = 0;
  let taken = 0;
  scan: for (;;) {
    const order = options.userTopWords(depth);
    for (; scanned < order.length; scanned += 1) {
      const w = order[scanned];
      const tie = userWords[w] * baseLift;
      if (taken >= k || (best.full && tie <= best.worst)) break scan;
      if (binarySearch(itemWords.indices, start, end, w)) continue;
      best.offer(w, tie, baseLift);
      taken += 1;
    }
    if (depth >= userWords.length) break;
    depth = Math.min(userWords.length, depth * 4);
  }
  return { ...weighted(best, total, userWords), affinity: total, itemTokens, rule: "lift" };
}

/**
 * The "effect" rule's ranking (ExplanationRule) for an item with review text, over the effects given
 * (the first-order ones to shortlist, the exact ones to list): one merge of the bag's and the item's sorted words.
 */
function explainByEffect(options: Parameters<typeof explainPair>[0], bag: BagEffects): Omit<Explanation, "clicks"> {
  const { stats, userWords, item, k } = options;
  const best = new TopList(k);
  const total = offerEffects({ stats, userWords, item, bag, best });
  return { ...weighted(best, total, userWords), affinity: affinityOf(options), itemTokens: stats.itemTotals[item], rule: "effect" };
}

/**
 * The `n` words of the bag that the "effect" rule ranks first for the item (by p(w|u) · e(w), among
 * the item's words with lift > 1 and e(w) > 0), ascending by word: the words whose exact effect is
 * worth computing.
 */
export function shortlistByEffect(options: { stats: ItemWordStats; userWords: ArrayLike<number>; item: number; n: number; bag: BagEffects }): Int32Array {
  const best = new TopList(options.n);
  offerEffects({ ...options, best });
  return Int32Array.from(best.sorted(), (entry) => entry.word).sort();
}

/**
 * Offers each word of the bag that the item's reviews use, with lift > 1 and e(w) > 0, scored
 * p(w|u) · e(w); returns the sum of those scores. Each bag word is looked up by binary search in the
 * item's ascending words, from where the previous one was found (the bag is ascending too): a bag is
 * tens to hundreds of words, an item's reviews thousands.
 */
function offerEffects(options: { stats: ItemWordStats; userWords: ArrayLike<number>; item: number; bag: BagEffects; best: TopList }): number {
  const { stats, userWords, item, bag, best } = options;
  const { indices, indptr } = stats.itemWords;
  const end = indptr[item + 1];
  let from = indptr[item];
  let total = 0;
  for (let t = 0; t < bag.words.length && from < end; t += 1) {
    const effect = bag.effects[t];
    if (!(effect > 0)) continue;
    const w = bag.words[t];
    let lo = from;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (indices[mid] < w) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
    if (lo === end || indices[lo] !== w) continue;
    const lift = entryLift(stats, item, lo);
    if (lift <= 1) continue;
    const score = userWords[w] * effect;
    total += score;
    best.offer(w, score, lift, effect);
  }
  return total;
}

/** Σ_w p(w|u) · lift(w, i) (Explanation.affinity), from the item's own words. */
function affinityOf(options: Parameters<typeof explainPair>[0]): number {
  const { stats, userWords, item } = options;
  let affinity = stats.baseLift[item] * (options.userMass ?? sumOf(userWords));
  for (let p = stats.itemWords.indptr[item]; p < stats.itemWords.indptr[item + 1]; p += 1) {
    affinity += userWords[stats.itemWords.indices[p]] * stats.itemExtraLift[p];
  }
  return affinity;
}

/** The "evidence" rule (ExplanationRule) for an item with review text: one pass over the item's words (and affinityOf's). */
function explainByEvidence(options: Parameters<typeof explainPair>[0]): Omit<Explanation, "clicks"> {
  const { stats, userWords, item, k } = options;
  const { itemWords } = stats;
  const best = new TopList(k);
  let total = 0;
  for (let p = itemWords.indptr[item]; p < itemWords.indptr[item + 1]; p += 1) {
    const w = itemWords.indices[p];
    const lift = entryLift(stats, item, p);
    if (lift <= 1) continue;
    const score = userWords[w];
    total += score;
    best.offer(w, score, lift);
  }
  return { ...weighted(best, total, userWords), affinity: affinityOf(options), itemTokens: stats.itemTotals[item], rule: "evidence" };
}

/** The chosen words with their weights (score over the rule's total) and the share they cover together. */
function weighted(best: TopList, total: number, userWords: ArrayLike<number>): Pick<Explanation, "words" | "coveredShare"> {
  const words: ExplanationWord[] = [];
  let coveredShare = 0;
  for (const { word, tie, lift, effect } of best.sorted()) {
    const weight = total > 0 ? tie / total : 0;
    coveredShare += weight;
    words.push(effect === undefined ? { wordIndex: word, weight, userProbability: userWords[word], lift } : { wordIndex: word, weight, userProbability: userWords[word], lift, effect });
  }
  return { words, coveredShare };
}

/** The k largest offers, kept sorted by insertion (k is a handful of words). */
class TopList {
  readonly #k: number;
  readonly #entries: Array<{ word: number; tie: number; lift: number; effect?: number }> = [];

  constructor(k: number) {
    this.#k = k;
  }

  get full(): boolean {
    return this.#entries.length >= this.#k;
  }

  /** The smallest tie held (−∞ while not full). */
  get worst(): number {
    return this.full ? this.#entries[this.#entries.length - 1].tie : Number.NEGATIVE_INFINITY;
  }

  offer(word: number, tie: number, lift: number, effect?: number): void {
    const entries = this.#entries;
    if (this.#k <= 0 || (this.full && !isBetter(tie, word, entries[entries.length - 1]))) return;
    if (this.full) entries.pop();
    let i = entries.length;
    const entry = { word, tie, lift, effect };
    entries.push(entry);
    while (i > 0 && isBetter(tie, word, entries[i - 1])) {
      entries[i] = entries[i - 1];
      i -= 1;
    }
    entries[i] = entry;
  }

  sorted(): ReadonlyArray<{ word: number; tie: number; lift: number; effect?: number }> {
    return this.#entries;
  }
}

/** Larger tie first; equal ties: lower word index first (as topK orders them). */
function isBetter(tie: number, word: number, other: { word: number; tie: number }): boolean {
  return tie > other.tie || (tie === other.tie && word < other.word);
}

function binarySearch(sorted: Int32Array, from: number, to: number, value: number): boolean {
  let lo = from;
  let hi = to - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid];
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Σ of the values (a user's mass Σ_w p(w|u)). */
export function sumOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i += 1) sum += values[i];
  return sum;
}

/** The "effect" rule computes the exact deletion effect of this many candidates per listed word (the best by first-order effect). */
export const EFFECT_SHORTLIST = 2;
