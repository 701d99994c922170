/**
 * A maximum-inner-product index over item vectors (usearch's HNSW graph): MIPS becomes a nearest
 * neighbour search in L2 by one extra coordinate per item, x_i = [v_i, √(M² − ‖v_i‖²)] and q = [h, 0],
 * since ‖q − x_i‖² = ‖h‖² + M² − 2⟨h, v_i⟩ (Bachrach et al., "Speeding up the Xbox recommender system
 * using a Euclidean transformation for inner-product spaces", RecSys 2014); on planted models it finds
 * more of the exact top 20 than the graph under the inner product itself (docs/operations.md). Its
 * answers are candidates only: the caller re-ranks them exactly.
 */
import { Index, MetricKind, ScalarKind } from "usearch";
import { INDEX_CONNECTIVITY, mipsIndexBytes } from "./retrieval-mode.ts";

/** How the graph is built and searched; the figures in BENCHMARKS.md (bench:scale) were measured with these. */
export const MIPS_INDEX_SETTINGS = Object.freeze({
  /** Neighbours per node of the graph (usearch's connectivity; 2× on the bottom layer). */
  connectivity: INDEX_CONNECTIVITY,
  /** Candidates kept while inserting (efConstruction). */
  expansionAdd: 64,
  /** Least candidates kept while searching (ef); a search for more items keeps that many. */
  expansionSearch: 256,
  /** Stored precision of the vectors: half of float32's bytes; the exact re-ranking undoes its error. */
  quantization: ScalarKind.F16,
  /**
   * Items added per call, with a turn of the event loop between two, so a server keeps answering while
   * it builds (a call holds the thread: ≈ 0.1–0.5 s for 512 items of 600 dimensions on a busy core).
   */
  addChunk: 512,
});

/** Where the item vectors come from: `read(start, end)` gives items start…end−1, each `dims` numbers, row-major. */
export interface ItemVectorSource {
  readonly items: number;
  readonly dims: number;
  read(start: number, end: number): Promise<Float32Array>;
}

export class MipsIndex {
  readonly items: number;
  /** Dimensions of the item vectors (the index holds one more). */
  readonly dims: number;
  /** Seconds the build took. */
  readonly buildSeconds: number;
  readonly #index: Index;

  private constructor(o: { index: Index; items: number; dims: number; buildSeconds: number }) {
    this.#index = o.index;
    this.items = o.items;
    this.dims = o.dims;
    this.buildSeconds = o.buildSeconds;
  }

  /**
   * Builds the index: one pass over the item vectors for the largest norm M, one to add the augmented
   * vectors in chunks, on one thread, so that a model's index (and its answers) is the same on every load.
   */
  static async build(source: ItemVectorSource): Promise<MipsIndex> {
    const started = performance.now();
    const { items, dims } = source;
    const chunk = MIPS_INDEX_SETTINGS.addChunk;
    let maxNormSq = 0;
    for (let start = 0; start < items; start += chunk) {
      const vectors = await source.read(start, Math.min(items, start + chunk));
      for (let i = 0; i < vectors.length / dims; i += 1) maxNormSq = Math.max(maxNormSq, normSq(vectors, i * dims, dims));
    }
    const index = new Index({
      dimensions: dims + 1,
      metric: MetricKind.L2sq,
      quantization: MIPS_INDEX_SETTINGS.quantization,
      connectivity: MIPS_INDEX_SETTINGS.connectivity,
      expansion_add: MIPS_INDEX_SETTINGS.expansionAdd,
      expansion_search: MIPS_INDEX_SETTINGS.expansionSearch,
      multi: false,
    });
    for (let start = 0; start < items; start += chunk) {
      const end = Math.min(items, start + chunk);
      const vectors = await source.read(start, end);
      const augmented = new Float32Array((end - start) * (dims + 1));
      const keys = new BigUint64Array(end - start);
      for (let i = 0; i < end - start; i += 1) {
        augmented.set(vectors.subarray(i * dims, (i + 1) * dims), i * (dims + 1));
        augmented[i * (dims + 1) + dims] = Math.sqrt(Math.max(0, maxNormSq - normSq(vectors, i * dims, dims)));
        keys[i] = BigInt(start + i);
      }
      index.add(keys, augmented, 1);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return new MipsIndex({ index, items, dims, buildSeconds: (performance.now() - started) / 1000 });
  }

  /** Estimated bytes the index holds: the half-precision augmented vectors, the bottom layer's links and each node's bookkeeping. */
  get bytes(): number {
    return mipsIndexBytes({ items: this.items, dims: this.dims });
  }

  /** The `count` items of largest ⟨query, v_i⟩ the graph finds (approximately), best first. */
  search(query: Float32Array, count: number): Int32Array {
    if (query.length !== this.dims) throw new Error(`Invariant failed: a query of ${query.length} numbers for an index of ${this.dims} dimensions`);
    const augmented = new Float32Array(this.dims + 1);
    augmented.set(query);
    const found = this.#index.search(augmented, Math.min(count, this.items), 1);
    return Int32Array.from(found.keys, (key) => Number(key));
  }
}

/** ‖v‖² of the `dims` numbers of `values` from `offset`. */
function normSq(values: Float32Array, offset: number, dims: number): number {
  let sum = 0;
  for (let d = 0; d < dims; d += 1) sum += values[offset + d] * values[offset + d];
  return sum;
}
