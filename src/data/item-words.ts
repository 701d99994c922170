/**
 * Item × word counts of review texts over a dataset's vocabulary: the input of the explanation
 * rules' item word statistics (engine/explanation-rules.ts buildItemWordStats).
 */
import { csrFromRows, type CsrMatrix } from "./csr.ts";

/** Counts the vocabulary words of review texts per item, a batch of reviews at a time. */
export class ItemWordCounter {
  readonly #wordIndex = new Map<string, number>();
  readonly #counts: Array<Map<number, number>>;
  readonly #vocabularySize: number;
  readonly #tokenize: (text: string) => ReadonlyArray<string>;

  constructor(options: { numItems: number; vocabulary: ReadonlyArray<string>; tokenize: (text: string) => ReadonlyArray<string> }) {
    options.vocabulary.forEach((word, index) => this.#wordIndex.set(word, index));
    this.#counts = Array.from({ length: options.numItems }, () => new Map());
    this.#vocabularySize = options.vocabulary.length;
    this.#tokenize = options.tokenize;
  }

  add(item: number, text: string): void {
    const row = this.#counts[item];
    for (const token of this.#tokenize(text)) {
      const w = this.#wordIndex.get(token);
      if (w !== undefined) row.set(w, (row.get(w) ?? 0) + 1);
    }
  }

  /** The item × word count matrix of everything added. */
  matrix(): CsrMatrix {
    return csrFromRows({ cols: this.#vocabularySize, rows: this.#counts.map((row) => [...row.entries()]) });
  }
}

/** Builds the item × word count matrix from review texts, keeping only vocabulary words. */
export function itemWordMatrixFromTexts(options: {
  reviews: Iterable<{ readonly item: number; readonly text: string }>;
  numItems: number;
  vocabulary: ReadonlyArray<string>;
  tokenize: (text: string) => ReadonlyArray<string>;
}): CsrMatrix {
  const counter = new ItemWordCounter(options);
  for (const { item, text } of options.reviews) counter.add(item, text);
  return counter.matrix();
}
