import { ChunkedInt32, GrowableFloat64, GrowableInt32 } from "./growable.ts";
import { tokenMatches } from "./tokenizer.ts";

/** One review or other user text as a parser reads it, before any preprocessing. */
export interface RawReview {
  readonly user: string;
  /** Null for text that belongs to the user but to no item (tsv texts with an empty item). */
  readonly item: string | null;
  /** Null when the source gives no rating (then an interaction counts as a click). */
  readonly rating: number | null;
  readonly text: string;
  readonly summary: string | null;
  /** Unix time in seconds, or null. */
  readonly time: number | null;
}

/** Where parsers put what they read. */
export interface ReviewSink {
  /** An interaction without text (tsv interaction rows). */
  interaction(user: string, item: string, rating: number | null): void;
  /** A text; when `isInteraction` it also counts as the interaction (user, item, rating). */
  review(review: RawReview, isInteraction: boolean): void;
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

  constructor(options: { stopWords: ReadonlySet<string>; onReviewText?: (sequence: number, review: RawReview) => void }) {
    for (const word of options.stopWords) this.tokenIds.set(word, -1);
    this.onReviewText = options.onReviewText ?? (() => undefined);
    this.tokenStart.push(0);
  }

  get reviewCount(): number {
    return this.reviewUser.length;
  }

  /** Records read: reviews plus interaction rows without text. */
  get recordCount(): number {
    return this.records;
  }

  interaction(user: string, item: string, rating: number | null): void {
    this.records += 1;
    this.addInteraction(user, item, rating);
  }

  review(review: RawReview, isInteraction: boolean): void {
    this.records += 1;
    if (isInteraction && review.item !== null) this.addInteraction(review.user, review.item, review.rating);
    const sequence = this.reviewUser.length;
    this.reviewUser.push(this.internUser(review.user));
    this.reviewItem.push(review.item === null ? -1 : this.internItem(review.item));
    this.addTokens(review.text);
    if (review.summary) this.addTokens(review.summary);
    this.tokenStart.push(this.tokens.length);
    this.onReviewText(sequence, review);
  }

  /** The interned corpus (views over the builder's arrays; build once reading is done). */
  build(): Corpus {
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
