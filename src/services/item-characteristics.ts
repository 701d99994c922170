/**
 * What an item's reviews say (issue 30, the dashboard's item view): the words they use most against
 * the corpus, by the explanations' own lift (engine/explanation-rules.ts entryLift).
 */
import { characteristicWords } from "../engine/explanation-rules.ts";
import type { InferenceService } from "./inference.ts";

/** A word of an item's reviews, spelled out. */
export interface ItemWord {
  readonly word: string;
  /** lift(w, i) = P(w|i) / P(w), Dirichlet-smoothed as the explanations compute it. */
  readonly lift: number;
  /** Occurrences of the word in the item's reviews. */
  readonly count: number;
}

/** The k words of the item's reviews with the largest lift (empty for an item without review text). */
export async function itemCharacteristicWords(options: { inference: InferenceService; datasetId: number; item: number; k: number }): Promise<ItemWord[]> {
  const dataset = await options.inference.dataset(options.datasetId);
  const stats = await dataset.itemWordStats();
  const { vocabulary } = dataset.matrices;
  return characteristicWords({ stats, item: options.item, k: options.k }).map((w) => ({ word: vocabulary[w.wordIndex], lift: w.lift, count: w.count }));
}
