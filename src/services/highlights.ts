/**
 * A review's text marked with the user's click2review distribution p_u(w), as in the VCM paper's
 * Figure 5: every token keeps its offsets in the original text, and a token of the vocabulary gets
 * its probability and a level by where it falls in that user's distribution over the vocabulary.
 */
import type { TokenSpan } from "../data/tokenizer.ts";

/** HIGH: among the user's top 1 % of the vocabulary by p_u(w); MEDIUM: top 10 %; LOW: the rest. */
export type HighlightLevel = "HIGH" | "MEDIUM" | "LOW";

/** Shares of the vocabulary, counted from the most probable word, that HIGH and MEDIUM reach down to. */
export const HIGHLIGHT_QUANTILES = Object.freeze({ high: 0.01, medium: 0.1 });

/** The smallest probabilities still HIGH and still MEDIUM for one user's distribution. */
export interface LevelThresholds {
  readonly high: number;
  readonly medium: number;
}

/** One user's probability of a word and its level. */
export interface WordMark {
  readonly probability: number;
  readonly level: HighlightLevel;
}

/** A token of the text with its mark under each model asked for (null where the vocabulary lacks it). */
export interface HighlightedToken {
  readonly start: number;
  readonly end: number;
  /** The vocabulary word (lowercase), or null for a stop word, a one-character token or an unknown word. */
  readonly word: string | null;
  readonly mark: WordMark | null;
  /** The same under the model compared with, when one was asked for. */
  readonly compared: WordMark | null;
}

/**
 * The value at `rank` (0 = the largest) of `values` as if sorted from the largest, found by selection
 * (Hoare's partition, in place, linear on average): afterwards the `rank + 1` largest values come first.
 */
function selectFromTop(values: Float64Array, rank: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i += 1;
      while (values[j] < pivot) j -= 1;
      if (i <= j) {
        const swap = values[i];
        values[i] = values[j];
        values[j] = swap;
        i += 1;
        j -= 1;
      }
    }
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else break;
  }
  return values[rank];
}

/**
 * The HIGH and MEDIUM thresholds of a distribution: its values at the HIGHLIGHT_QUANTILES from the top.
 * Selected rather than sorted: every highlighted review asks, and sorting 10,000 words each time was most
 * of a highlights query's time.
 */
export function levelThresholds(distribution: ArrayLike<number>): LevelThresholds {
  const values = Float64Array.from(distribution);
  const rank = (share: number) => Math.min(values.length - 1, Math.max(0, Math.ceil(share * values.length) - 1));
  const mediumRank = rank(HIGHLIGHT_QUANTILES.medium);
  const medium = selectFromTop(values, mediumRank);
  // The top mediumRank + 1 values now come first, and HIGH's rank is among them.
  return { high: selectFromTop(values.subarray(0, mediumRank + 1), rank(HIGHLIGHT_QUANTILES.high)), medium };
}

function markOf(p: number, t: LevelThresholds): WordMark {
  return { probability: p, level: p >= t.high ? "HIGH" : p >= t.medium ? "MEDIUM" : "LOW" };
}

/** Marks the spans of a text with one user's distribution (and a second model's, to compare). */
export function highlightSpans(options: {
  spans: ReadonlyArray<TokenSpan>;
  wordColumn: ReadonlyMap<string, number>;
  distribution: ArrayLike<number>;
  compareTo?: ArrayLike<number>;
}): HighlightedToken[] {
  const { spans, wordColumn, distribution, compareTo } = options;
  const thresholds = levelThresholds(distribution);
  const compared = compareTo === undefined ? undefined : levelThresholds(compareTo);
  return spans.map((span) => {
    const column = span.word === null ? undefined : wordColumn.get(span.word);
    if (column === undefined) return { start: span.start, end: span.end, word: null, mark: null, compared: null };
    return {
      start: span.start,
      end: span.end,
      word: span.word,
      mark: markOf(distribution[column], thresholds),
      compared: compareTo === undefined || compared === undefined ? null : markOf(compareTo[column], compared),
    };
  });
}
