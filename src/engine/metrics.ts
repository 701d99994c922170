/**
 * Ranking metrics exactly as docs/model.md §2 defines them, per user, so that cohorts and paired
 * significance tests can use the per-user values.
 */

/** Largest k for which the sorted buffer beats the heap (it shifts up to k entries per accepted score). */
const BUFFER_MAX_K = 128;

/**
 * Indices of the k largest scores, best first, skipping excluded indices and NaN (ties: lower index
 * first): the one top-k of the project (the native kernel matches it, native-kernels.ts). A small k
 * with no exclusions or a sorted list of them (a CSR row) takes a sorted buffer that rejects almost
 * every score in one comparison, without allocations beyond the answer (100 users × 10,000 items per
 * query); a large k, or exclusions given as a set or in any order, a bounded heap, O(n log k).
 */
export function topK(options: {
  scores: ArrayLike<number>;
  k: number;
  exclude?: ReadonlySet<number> | ArrayLike<number>;
}): Int32Array {
  const { exclude } = options;
  if (options.k <= BUFFER_MAX_K && (exclude === undefined || (exclude instanceof Int32Array && isAscending(exclude)))) {
    return bufferTopK({ scores: options.scores, k: options.k, exclude });
  }
  return heapTopK(options);
}

function isAscending(values: Int32Array): boolean {
  for (let i = 1; i < values.length; i += 1) if (values[i] < values[i - 1]) return false;
  return true;
}

function heapTopK(options: { scores: ArrayLike<number>; k: number; exclude?: ReadonlySet<number> | ArrayLike<number> }): Int32Array {
  const { scores, k } = options;
  const excluded = new Uint8Array(scores.length);
  if (options.exclude) {
    const ex = options.exclude;
    if (isSet(ex)) for (const i of ex) excluded[i] = 1;
    else for (let j = 0; j < ex.length; j += 1) excluded[ex[j]] = 1;
  }
  // A bounded min-heap keeps this O(n log k) for n items.
  const heap: number[] = [];
  const worse = (a: number, b: number): boolean =>
    scores[a] < scores[b] || (scores[a] === scores[b] && a > b);
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  const siftUp = (start: number): void => {
    let i = start;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worse(heap[i], heap[p])) return;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  if (k <= 0) return new Int32Array(0);
  for (let i = 0; i < scores.length; i += 1) {
    if (excluded[i] || Number.isNaN(scores[i])) continue;
    if (heap.length < k) {
      heap.push(i);
      siftUp(heap.length - 1);
    } else if (worse(heap[0], i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return Int32Array.from(heap.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0)));
}

/** topK's sorted-buffer strategy; `exclude` sorted ascending (a CSR row). */
function bufferTopK(options: { scores: ArrayLike<number>; k: number; exclude?: Int32Array }): Int32Array {
  const { scores, exclude } = options;
  const k = Math.min(options.k, scores.length);
  if (k <= 0) return new Int32Array(0);
  const index = new Int32Array(k);
  const value = new Float64Array(k);
  let size = 0;
  let next = 0;
  const nextExcluded = exclude === undefined || exclude.length === 0 ? -1 : exclude[0];
  let excludedAt = nextExcluded;
  for (let i = 0; i < scores.length; i += 1) {
    if (i === excludedAt) {
      next += 1;
      excludedAt = next < exclude!.length ? exclude![next] : -1;
      continue;
    }
    const s = scores[i];
    if (s !== s) continue;
    // Equal scores keep the earlier index ahead, so a later equal score never displaces it.
    if (size === k && s <= value[k - 1]) continue;
    let j = size === k ? k - 1 : size;
    while (j > 0 && value[j - 1] < s) {
      value[j] = value[j - 1];
      index[j] = index[j - 1];
      j -= 1;
    }
    value[j] = s;
    index[j] = i;
    if (size < k) size += 1;
  }
  return size === k ? index : index.slice(0, size);
}

function isSet(x: ReadonlySet<number> | ArrayLike<number>): x is ReadonlySet<number> {
  return typeof (x as ReadonlySet<number>).has === "function";
}

/**
 * NDCG@R with binary relevance: DCG = Σ_{r ≤ R} (2^rel_r − 1) / log2(r + 1) over the ranking,
 * divided by the ideal DCG of min(R, |heldOut|) hits. NaN when heldOut is empty (user not counted).
 */
export function ndcgAt(options: {
  ranked: ArrayLike<number>;
  heldOut: ReadonlySet<number>;
  r: number;
}): number {
  const { ranked, heldOut, r } = options;
  if (heldOut.size === 0) return Number.NaN;
  let dcg = 0;
  const depth = Math.min(r, ranked.length);
  for (let i = 0; i < depth; i += 1) {
    if (heldOut.has(ranked[i])) dcg += 1 / Math.log2(i + 2);
  }
  let idcg = 0;
  const ideal = Math.min(r, heldOut.size);
  for (let i = 0; i < ideal; i += 1) idcg += 1 / Math.log2(i + 2);
  return dcg / idcg;
}

/** Recall@R = hits in the top R / min(R, |heldOut|). NaN when heldOut is empty (user not counted). */
export function recallAt(options: {
  ranked: ArrayLike<number>;
  heldOut: ReadonlySet<number>;
  r: number;
}): number {
  const { ranked, heldOut, r } = options;
  if (heldOut.size === 0) return Number.NaN;
  let hits = 0;
  const depth = Math.min(r, ranked.length);
  for (let i = 0; i < depth; i += 1) if (heldOut.has(ranked[i])) hits += 1;
  return hits / Math.min(r, heldOut.size);
}

/** Mean over the finite values (users without held-out items are NaN and not counted). */
export function meanDefined(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < values.length; i += 1) {
    if (Number.isFinite(values[i])) {
      sum += values[i];
      n += 1;
    }
  }
  return n === 0 ? Number.NaN : sum / n;
}
