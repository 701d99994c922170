/**
 * Bounded least-recently-used caches. LruCache holds values that are expensive to load (trained
 * models, dataset matrices, per-dataset statistics): concurrent requests for the same key share one
 * load, and an evicted value is handed to `onEvict` so that tensors can be released. RecentAnswers
 * holds answers already computed (a loaded model's recent scores and explanations), read synchronously.
 */
export class LruCache<K, V> {
  readonly #capacity: number;
  readonly #load: (key: K) => Promise<V>;
  readonly #onEvict: ((value: V) => void) | undefined;
  /** Insertion order of a Map is its recency order: the first key is the least recently used. */
  readonly #entries = new Map<K, Promise<V>>();

  constructor(options: { capacity: number; load: (key: K) => Promise<V>; onEvict?: (value: V) => void }) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`LRU capacity must be a positive integer, got ${options.capacity}`);
    }
    this.#capacity = options.capacity;
    this.#load = options.load;
    this.#onEvict = options.onEvict;
  }

  /** Number of keys held (loaded or loading). */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether the key is held, without touching its recency. */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The keys held (loaded or loading), least recently used first, without touching their recency. */
  keys(): K[] {
    return [...this.#entries.keys()];
  }

  /** The value held for the key (loaded or loading), without loading it or touching its recency. */
  peek(key: K): Promise<V> | undefined {
    return this.#entries.get(key);
  }

  /** The values loaded so far (loads that failed or are still running are left out), without touching their recency. */
  async values(): Promise<V[]> {
    const settled = await Promise.allSettled([...this.#entries.values()]);
    return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  }

  /**
   * Holds `value` for the key in place of what was held (a newer version of the same thing; the old
   * value is not released, its users may still read it), as most recently used.
   */
  set(key: K, value: Promise<V>): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    value.catch(() => {
      if (this.#entries.get(key) === value) this.#entries.delete(key);
    });
    this.#evictOverflow();
  }

  /** The value for the key, loading it on a miss; a failed load is not cached. */
  get(key: K): Promise<V> {
    const held = this.#entries.get(key);
    if (held !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, held);
      return held;
    }
    const loading = this.#load(key);
    this.#entries.set(key, loading);
    loading.catch(() => {
      if (this.#entries.get(key) === loading) this.#entries.delete(key);
    });
    this.#evictOverflow();
    return loading;
  }

  /** Drops the key (for a deleted model), releasing its value. */
  delete(key: K): void {
    const held = this.#entries.get(key);
    if (held === undefined) return;
    this.#entries.delete(key);
    this.#release(held);
  }

  /** Drops every key, releasing every value. */
  clear(): void {
    for (const key of [...this.#entries.keys()]) this.delete(key);
  }

  #evictOverflow(): void {
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as K;
      this.delete(oldest);
    }
  }

  #release(held: Promise<V>): void {
    const onEvict = this.#onEvict;
    if (onEvict === undefined) return;
    // A value still loading is released once it arrives; a failed load has nothing to release.
    held.then(onEvict, () => undefined);
  }
}

/** A bounded map of answers, least recently used first (a Map's insertion order is its recency order). */
export class RecentAnswers<T> {
  readonly #entries = new Map<string, T>();

  constructor(readonly capacity: number) {}

  get(key: string): T | undefined {
    const held = this.#entries.get(key);
    if (held !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, held);
    }
    return held;
  }

  /** Drops the answers whose keys match (the rows whose history changed). */
  deleteWhere(matches: (key: string) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (matches(key)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  set(key: string, value: T): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
