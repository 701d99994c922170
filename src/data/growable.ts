/** Typed arrays that grow by doubling: the corpus holds millions of numbers without boxed JS arrays. */
export class GrowableInt32 {
  private data: Int32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Int32Array(capacity);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length] = value;
    this.length += 1;
  }

  get(index: number): number {
    return this.data[index];
  }

  /** A view of the filled part (shares memory until the next push that grows). */
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }
}

export class GrowableFloat64 {
  private data: Float64Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Float64Array(capacity);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length] = value;
    this.length += 1;
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

const CHUNK_BITS = 20;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;

/**
 * An append-only Int32 sequence in fixed 4 MB chunks: growing never copies, so a corpus of tens of
 * millions of tokens peaks at its own size instead of three times it (old + doubled array).
 */
export class ChunkedInt32 {
  private readonly chunks: Int32Array[] = [];
  length = 0;

  push(value: number): void {
    const offset = this.length & CHUNK_MASK;
    if (offset === 0) this.chunks.push(new Int32Array(CHUNK_SIZE));
    this.chunks[this.chunks.length - 1][offset] = value;
    this.length += 1;
  }

  get(index: number): number {
    return this.chunks[index >>> CHUNK_BITS][index & CHUNK_MASK];
  }
}
