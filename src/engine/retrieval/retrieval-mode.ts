/**
 * The switch of approximate retrieval (approximate-ranker.ts) and its numbers, in a file of its own
 * so that the settings (src/config.ts, the CLI) read them without loading the index's native addon.
 */

/** How a server ranks items for a user: always by scoring every item, always through the index, or by the catalogue's size. */
export const RETRIEVAL_MODES = ["exact", "approximate", "auto"] as const;
export type RetrievalMode = (typeof RETRIEVAL_MODES)[number];

export const DEFAULT_RETRIEVAL_MODE: RetrievalMode = "auto";

/**
 * Items from which `auto` ranks through the index: below it exact scoring of one user takes a few ms
 * and every paper shape (10,003 to 24,628 items) keeps the exact ranking; at 200,000 items exact
 * scoring took 51 ms at the median against 17.9 ms through the index (hiddenX 600, a calm 2-core
 * machine; BENCHMARKS.md, bench:scale), and an index's build (141 s there) is paid once per model load.
 */
export const APPROXIMATE_RETRIEVAL_MIN_ITEMS = 100_000;

/**
 * Candidates taken from the index per item wanted, re-ranked exactly: the least factor measured whose
 * recall@20 against exact scoring is ≥ 0.98 at every shape bench:scale ran (planted weights): 80 ×
 * found 99.6 % at 200,000 items (hiddenX 600) and 98.2 % at 1,000,000 (hiddenX 300), where 40 × found
 * 98.8 % and 96.6 %; one user's top 20 then took 17.9 ms and 12.7 ms against 51 ms and 87 ms exact.
 */
export const CANDIDATE_FACTOR = 80;

/** Neighbours per node of the index's graph (usearch's connectivity; 2× on the bottom layer, MIPS_INDEX_SETTINGS). */
export const INDEX_CONNECTIVITY = 16;
/** Bytes per stored scalar of the index's vectors (half precision, MIPS_INDEX_SETTINGS.quantization). */
const INDEX_SCALAR_BYTES = 2;
/** Bytes of a node's bookkeeping besides vectors and links (key, level, lock), usearch's index_dense layout. */
const INDEX_NODE_OVERHEAD_BYTES = 16;

/** Estimated bytes of an index of `items` vectors of `dims` numbers: each stored with its extra coordinate, the bottom layer's links, each node's bookkeeping. */
export function mipsIndexBytes(o: { items: number; dims: number }): number {
  return o.items * ((o.dims + 1) * INDEX_SCALAR_BYTES + 2 * INDEX_CONNECTIVITY * 4 + INDEX_NODE_OVERHEAD_BYTES);
}

/**
 * What approximate retrieval holds for a model besides its weights (the memory estimate counts it
 * before a model is loaded): the index over the output layer's augmented rows [W_i, b_i] and their
 * float32 copy on the host that the exact re-ranking reads.
 */
export function approximateRetrievalBytes(o: { items: number; hidden: number }): number {
  const width = o.hidden + 1;
  return mipsIndexBytes({ items: o.items, dims: width }) + o.items * width * 4;
}

/** Whether a model of `numItems` items is ranked through the index under `mode`. */
export function usesApproximateRetrieval(mode: RetrievalMode, numItems: number): boolean {
  switch (mode) {
    case "exact":
      return false;
    case "approximate":
      return true;
    case "auto":
      return numItems >= APPROXIMATE_RETRIEVAL_MIN_ITEMS;
    default: {
      const never: never = mode;
      throw new Error(`Invariant failed: unknown retrieval mode ${String(never)}`);
    }
  }
}
