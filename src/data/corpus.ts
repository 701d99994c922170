import { ChunkedInt32, GrowableFloat64, GrowableInt32 } from "./growable.ts";
import { TokenWorker, type TokenBatch } from "./token-worker.ts";
import { tokenMatches } from "./tokenizer.ts";
import type { RawReview } from "../dataset-shapes.ts";

export type { RawReview } from "../dataset-shapes.ts";

/** Where parsers put what they read. */
export interface ReviewSink {
  /** An interaction without text (tsv interaction rows). */
  interaction(user: string, item: string, rating: number | null): void;
  /** A text; when `isInteraction` it also counts as the interaction (user, item, rating). */
  review(review: RawReview, isInteraction: boolean): void;
  /**
   * Awaited by file parsers after each batch of lines: a sink that writes as it goes (an append) makes
   * reading wait here until its writes have caught up, so memory stays bounded on a slow database.
   */
  caughtUp?(): Promise<void>;
}

/** Everything read from a source, interned to integers; the texts themselves go to `onReviewText`. */
export interface Corpus {
  readonly userNames: ReadonlyArray<string>;
  readonly itemNames: ReadonlyArray<string>;
  readonly tokenNames: ReadonlyArray<string>;
  /** Interactions: interned user, item and rating (NaN when absent). */
  readonly interactionUser: Int32Array;
  readonly interactionItem: Int32Array;
  readonly interactionRating: Float64Array;
  /** Reviews in reading order (their sequence number is the index): user, item (−1 for none). */
  readonly reviewUser: Int32Array;
  readonly reviewItem: Int32Array;
  /** Review r's token ids are tokens.get(k) for k in tokenStart[r] .. tokenStart[r + 1] − 1. */
  readonly tokenStart: Int32Array;
  readonly tokens: { get(index: number): number; readonly length: number };
}

/**
 * Longest review text (and summary) an ingest keeps, in characters (code points): longer ones are cut
 * there and counted (IngestSummary.truncated), so that no single review makes an unbounded answer.
 */
export const MAX_REVIEW_LENGTH = 20_000;

/** A text cut to its first MAX_REVIEW_LENGTH code points (never inside a surrogate pair), or null when it is not longer. */
function cutText(text: string): string | null {
  // At most MAX_REVIEW_LENGTH UTF-16 units are at most as many code points: only longer texts are counted.
  if (text.length <= MAX_REVIEW_LENGTH) return null;
  let end = 0;
  for (let kept = 0; kept < MAX_REVIEW_LENGTH && end < text.length; kept += 1) end += (text.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
  return end < text.length ? text.slice(0, end) : null;
}

/** Texts per batch sent to the tokenising thread. */
const WORKER_BATCH = 1024;

/**
 * The review with NUL characters dropped from its text and summary: PostgreSQL's text type cannot hold
 * them, and both databases store the same texts (a NUL is never part of a word).
 */
function withoutNul(review: RawReview): RawReview {
  const text = review.text.includes("\0") ? review.text.replaceAll("\0", "") : review.text;
  const summary = review.summary?.includes("\0") ? review.summary.replaceAll("\0", "") : review.summary;
  return text === review.text && summary === review.summary ? review : { ...review, text, summary };
}

/** The review with its text and summary cut to MAX_REVIEW_LENGTH characters, and whether either was cut. */
function withinLength(review: RawReview): { review: RawReview; truncated: boolean } {
  const text = cutText(review.text);
  const summary = review.summary === null ? null : cutText(review.summary);
  if (text === null && summary === null) return { review, truncated: false };
  return { review: { ...review, text: text ?? review.text, summary: summary ?? review.summary }, truncated: true };
}

/**
 * Interns users, items and words as records stream in, keeping only integers in memory: a review's
 * text is tokenised once and handed to `onReviewText` (the ingest stages it in SQLite).
 */
export class CorpusBuilder implements ReviewSink {
  private readonly users = new Map<string, number>();
  private readonly userNames: string[] = [];
  private readonly items = new Map<string, number>();
  private readonly itemNames: string[] = [];
  /** Word → token id; stop words map to −1 so one lookup both interns and filters. */
  private readonly tokenIds = new Map<string, number>();
  private readonly tokenNames: string[] = [];
  private readonly interactionUser = new GrowableInt32();
  private readonly interactionItem = new GrowableInt32();
  private readonly interactionRating = new GrowableFloat64();
  private readonly reviewUser = new GrowableInt32();
  private readonly reviewItem = new GrowableInt32();
  private readonly tokenStart = new GrowableInt32();
  private readonly tokens = new ChunkedInt32();
  private readonly onReviewText: (sequence: number, review: RawReview) => void;
  private records = 0;
  private truncated = 0;
  /** With `tokenizeOnWorker`: the thread, the texts of the batch being filled, and its word ids → ours. */
  private readonly worker: TokenWorker | undefined;
  private batch: string[] = [];
  private readonly workerIds = new GrowableInt32();

  /**
   * `tokenizeOnWorker` tokenises on a second thread (token-worker.ts), for large files; the corpus is
   * the same either way. Call `build` (or `close`, when reading failed) to stop that thread.
   */
  constructor(options: { stopWords: ReadonlySet<string>; onReviewText?: (sequence: number, review: RawReview) => void; tokenizeOnWorker?: boolean }) {
    for (const word of options.stopWords) this.tokenIds.set(word, -1);
    this.onReviewText = options.onReviewText ?? (() => undefined);
    this.tokenStart.push(0);
    this.worker = options.tokenizeOnWorker ? new TokenWorker(options.stopWords, (b) => this.addBatch(b)) : undefined;
  }

  get reviewCount(): number {
    return this.reviewUser.length;
  }

  /** Reviews whose text or summary was longer than MAX_REVIEW_LENGTH characters and was cut there. */
  get truncatedCount(): number {
    return this.truncated;
  }

  /** Records read: reviews plus interaction rows without text. */
  get recordCount(): number {
    return this.records;
  }

  interaction(user: string, item: string, rating: number | null): void {
    this.records += 1;
    this.addInteraction(user, item, rating);
  }

  review(raw: RawReview, isInteraction: boolean): void {
    const { review, truncated } = withinLength(withoutNul(raw));
    if (truncated) this.truncated += 1;
    this.records += 1;
    if (isInteraction && review.item !== null) this.addInteraction(review.user, review.item, review.rating);
    const sequence = this.reviewUser.length;
    this.reviewUser.push(this.internUser(review.user));
    this.reviewItem.push(review.item === null ? -1 : this.internItem(review.item));
    if (this.worker) {
      // The summary after a line break: the same tokens as text and summary tokenised apart.
      this.batch.push(review.summary ? `${review.text}\n${review.summary}` : review.text);
      if (this.batch.length >= WORKER_BATCH) this.sendBatch();
    } else {
      this.addTokens(review.text);
      if (review.summary) this.addTokens(review.summary);
      this.tokenStart.push(this.tokens.length);
    }
    this.onReviewText(sequence, review);
  }

  /** The interned corpus (views over the builder's arrays; build once reading is done). */
  build(): Corpus {
    if (this.worker) {
      try {
        this.sendBatch();
        this.worker.drain();
      } finally {
        this.worker.close();
      }
    }
    return {
      userNames: this.userNames,
      itemNames: this.itemNames,
      tokenNames: this.tokenNames,
      interactionUser: this.interactionUser.view(),
      interactionItem: this.interactionItem.view(),
      interactionRating: this.interactionRating.view(),
      reviewUser: this.reviewUser.view(),
      reviewItem: this.reviewItem.view(),
      tokenStart: this.tokenStart.view(),
      tokens: this.tokens,
    };
  }

  private addInteraction(user: string, item: string, rating: number | null): void {
    this.interactionUser.push(this.internUser(user));
    this.interactionItem.push(this.internItem(item));
    this.interactionRating.push(rating ?? Number.NaN);
  }

  /** Stops the tokenising thread without building (a failed read). */
  close(): void {
    this.worker?.close();
  }

  private sendBatch(): void {
    if (this.batch.length === 0) return;
    const texts = this.batch;
    this.batch = [];
    this.worker!.send(texts);
  }

  /** One batch's tokens from the worker, in order: its new words get our ids, then each text's tokens are appended. */
  private addBatch(b: TokenBatch): void {
    for (const word of b.fresh) {
      let id = this.tokenIds.get(word);
      if (id === undefined) {
        id = this.tokenNames.length;
        this.tokenNames.push(word);
        this.tokenIds.set(word, id);
      }
      this.workerIds.push(id);
    }
    const ids = this.workerIds.view();
    let k = 0;
    for (let r = 0; r < b.counts.length; r++) {
      for (const end = k + b.counts[r]; k < end; k++) this.tokens.push(ids[b.tokens[k]]);
      this.tokenStart.push(this.tokens.length);
    }
  }

  private addTokens(text: string): void {
    const matches = tokenMatches(text);
    if (matches === null) return;
    for (const token of matches) {
      if (token.length < 2) continue;
      let id = this.tokenIds.get(token);
      if (id === undefined) {
        id = this.tokenNames.length;
        this.tokenNames.push(token);
        this.tokenIds.set(token, id);
      }
      if (id >= 0) this.tokens.push(id);
    }
  }

  private internUser(user: string): number {
    let id = this.users.get(user);
    if (id === undefined) {
      id = this.userNames.length;
      this.userNames.push(user);
      this.users.set(user, id);
    }
    return id;
  }

  private internItem(item: string): number {
    let id = this.items.get(item);
    if (id === undefined) {
      id = this.itemNames.length;
      this.itemNames.push(item);
      this.items.set(item, id);
    }
    return id;
  }
}
