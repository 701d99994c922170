/**
 * An append's SQL on either database: records already parsed and judged by the service
 * (src/services/append.ts) are added to an existing dataset in ONE transaction, batch after batch, so a
 * killed process leaves the dataset as it was before the append or as it is after it.
 * The connection and the dataset's lock are src/db/append-connection.ts's.
 */
import type { DataSource } from "typeorm";
import { ErrorCode, UserError } from "../errors.ts";
import { lockedDataset, openAppendConnection, type AppendConnection } from "./append-connection.ts";
import type { Sql, SqlValue } from "./sql.ts";

/** One record to append, parsed and judged by the caller with the dataset's ingest rules. */
export interface AppendRecord {
  readonly user: string;
  /** null: a text of the user alone (a tsv text with an empty item). */
  readonly item: string | null;
  /** True when the record is a click by the dataset's rating threshold (needs an item). */
  readonly click: boolean;
  /** The review text stored with the record, or null. */
  readonly review: AppendReview | null;
  /** The review's words that are in the dataset's vocabulary, as word indices, one per occurrence. */
  readonly words: ReadonlyArray<number>;
}

export interface AppendReview {
  readonly rating: number | null;
  readonly text: string;
  readonly summary: string | null;
  /** Unix time in seconds, or null. */
  readonly time: number | null;
}

/** What an append added (over all its batches). */
export interface AppendCounts {
  readonly usersAdded: number;
  readonly itemsAdded: number;
  readonly clicksAdded: number;
  /** Clicks whose (user, item) the dataset already had, or that the append repeated. */
  readonly clicksAlreadyPresent: number;
  readonly reviewsAdded: number;
  /** Review texts the user already had about the item with the same time, or that the append repeated: not stored again. */
  readonly reviewsAlreadyPresent: number;
  /** Word occurrences added to users' bags of words. */
  readonly wordsAdded: number;
  /** Records that could not be attached, per reason (NEW_USER_WITHOUT_CLICK here; the service adds the parsers'). */
  readonly skipped: Readonly<Record<string, number>>;
  /** Database ids of the users whose clicks, reviews or words changed (new users included), for caches keyed by user. */
  readonly changedUserIds: ReadonlyArray<number>;
}

/** Where a review stands: user, item and time (rounded to the second, as stored). */
function reviewSlot(r: { user: number; item: number | null; time: number | null }): string {
  return JSON.stringify([r.user, r.item, r.time === null ? null : Math.round(r.time)]);
}

/** What makes two reviews the same: their slot (reviewSlot, a closed JSON array) and their text. */
function reviewKey(r: { user: number; item: number | null; text: string; time: number | null }): string {
  return `${reviewSlot(r)}${r.text}`;
}

/** Why the database side skipped a record: it is no click, and its user is not in the dataset. */
export const NEW_USER_WITHOUT_CLICK = "newUserWithoutClick";

/** The dataset an append writes to, as read (and locked) when it began. */
export interface AppendTarget {
  readonly id: number;
  readonly name: string;
  /** Its version before the append. */
  readonly version: number;
  /** The options of its ingest (rating threshold, stop-word languages, …). */
  readonly options: Record<string, unknown>;
}

/** One append's transaction: add() batches, then commit() once, and close() whatever happened. */
export interface DatasetAppend {
  readonly dataset: AppendTarget;
  /** The dataset's vocabulary, word → word index (fixed: an append never adds words). */
  vocabulary(): Promise<Map<string, number>>;
  add(records: ReadonlyArray<AppendRecord>): Promise<void>;
  /** Commits; the version is bumped only when something was added. */
  commit(): Promise<AppendCounts & { readonly version: number }>;
  /** Rolls back an append that was not committed, and frees its connection. */
  close(): Promise<void>;
}

/** Rows per multi-row statement (well under either database's limit on parameters). */
const ROWS_PER_STATEMENT = 500;

/**
 * Begins an append to the dataset named `dataset`: NOT_FOUND when there is none. While another append
 * or ingest writes, SQLite waits for the write lock as long as the process's connection does (its
 * busy timeout; then SQLITE_BUSY, which the caller may retry); PostgreSQL waits for the dataset's row
 * `lockWaitMs` (unbounded without it), then refuses with DATABASE_BUSY and a sentence.
 */
export async function openDatasetAppend(dataSource: DataSource, o: { dataset: string; lockWaitMs?: number }): Promise<DatasetAppend> {
  const connection = await openAppendConnection(dataSource, o.lockWaitMs);
  try {
    const row = await lockedDataset(connection.sql, o.dataset);
    if (row === undefined) {
      throw new UserError(ErrorCode.NOT_FOUND, `There is no dataset "${o.dataset}" to append to; ingest it first with \`vcm ingest\`, or list them with \`vcm datasets\`.`);
    }
    const dataset: AppendTarget = { id: row.id, name: row.name, version: row.version, options: JSON.parse(row.options) as Record<string, unknown> };
    return new AppendTransaction({ connection, dataset, nextRow: Number(row.users), nextColumn: Number(row.items) });
  } catch (error) {
    await connection.end(false);
    throw error;
  }
}

/** A user or item the append has seen: its id and, for users, the row (for items, the column). */
interface Known {
  readonly id: number;
  readonly index: number;
}

/** Per user: what its counters and bag of words gain. */
interface UserGain {
  trainClicks: number;
  reviews: number;
  words: Map<number, number>;
}

class AppendTransaction implements DatasetAppend {
  readonly dataset: AppendTarget;
  private readonly connection: AppendConnection;
  private readonly sql: Sql;
  private readonly users = new Map<string, Known>();
  private readonly items = new Map<string, Known>();
  private nextRow: number;
  private nextColumn: number;
  private usersAdded = 0;
  private itemsAdded = 0;
  private clicksAdded = 0;
  private clicksAlreadyPresent = 0;
  private reviewsAdded = 0;
  private reviewsAlreadyPresent = 0;
  private wordsAdded = 0;
  private readonly skipped: Record<string, number> = {};
  /**
   * What users and items gain over the whole append, written once at the commit: a user that the
   * batches of a large file touch again and again is updated (and its bag of words rewritten) once.
   */
  private readonly gains = new Map<number, UserGain>();
  private readonly itemGains = new Map<number, number>();
  private ended = false;

  constructor(o: { connection: AppendConnection; dataset: AppendTarget; nextRow: number; nextColumn: number }) {
    this.connection = o.connection;
    this.sql = o.connection.sql;
    this.dataset = o.dataset;
    this.nextRow = o.nextRow;
    this.nextColumn = o.nextColumn;
  }

  async vocabulary(): Promise<Map<string, number>> {
    const rows = await this.sql.rows<[string, number]>("SELECT word, word_index FROM words WHERE dataset_id = ?", [this.dataset.id]);
    return new Map(rows.map(([word, index]) => [word, Number(index)]));
  }

  async add(records: ReadonlyArray<AppendRecord>): Promise<void> {
    if (records.length === 0) return;
    await this.lookUp({ table: "users", names: records.map((r) => r.user), into: this.users });
    await this.lookUp({ table: "items", names: records.flatMap((r) => (r.item === null ? [] : [r.item])), into: this.items });
    await this.createUsersAndItems(records);
    const gainOf = (userId: number): UserGain => {
      let gain = this.gains.get(userId);
      if (gain === undefined) {
        gain = { trainClicks: 0, reviews: 0, words: new Map() };
        this.gains.set(userId, gain);
      }
      return gain;
    };
    await this.addClicks({ records, gainOf });
    await this.addReviews({ records, gainOf });
  }

  async commit(): Promise<AppendCounts & { version: number }> {
    await this.updateCounters();
    const added = this.usersAdded + this.itemsAdded + this.clicksAdded + this.reviewsAdded > 0;
    if (added) {
      await this.sql.run(
        `UPDATE datasets SET user_count = user_count + ?, item_count = item_count + ?, click_count = click_count + ?,
          train_click_count = train_click_count + ?, review_count = review_count + ?, version = version + 1 WHERE id = ?`,
        [this.usersAdded, this.itemsAdded, this.clicksAdded, this.clicksAdded, this.reviewsAdded, this.dataset.id],
      );
      await this.sql.run(
        "UPDATE datasets SET sparsity = 1.0 - CAST(click_count AS real) / (CAST(user_count AS real) * CAST(item_count AS real)) WHERE id = ? AND user_count > 0 AND item_count > 0",
        [this.dataset.id],
      );
    }
    const version = added ? this.dataset.version + 1 : this.dataset.version;
    this.ended = true;
    await this.connection.end(true);
    return {
      usersAdded: this.usersAdded,
      itemsAdded: this.itemsAdded,
      clicksAdded: this.clicksAdded,
      clicksAlreadyPresent: this.clicksAlreadyPresent,
      reviewsAdded: this.reviewsAdded,
      reviewsAlreadyPresent: this.reviewsAlreadyPresent,
      wordsAdded: this.wordsAdded,
      skipped: { ...this.skipped },
      changedUserIds: [...this.gains.keys()],
      version,
    };
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.connection.end(false);
  }

  /** Reads the ids and indices of the named users (or items) that the dataset has and the append has not seen yet. */
  private async lookUp(o: { table: "users" | "items"; names: ReadonlyArray<string>; into: Map<string, Known> }): Promise<void> {
    const wanted = [...new Set(o.names)].filter((name) => !o.into.has(name));
    const index = o.table === "users" ? "row_index" : "column_index";
    for (const chunk of chunks(wanted)) {
      const rows = await this.sql.rows<[number, string, number]>(
        `SELECT id, external_id, ${index} FROM ${o.table} WHERE dataset_id = ? AND external_id IN (${placeholders(chunk.length)})`,
        [this.dataset.id, ...chunk],
      );
      for (const [id, name, position] of rows) o.into.set(name, { id: Number(id), index: Number(position) });
    }
  }

  /** Users and items that first appear in a click get the next dense row and column, in the order they appear. */
  private async createUsersAndItems(records: ReadonlyArray<AppendRecord>): Promise<void> {
    const newUsers: string[] = [];
    const newItems: string[] = [];
    const seenUsers = new Set<string>();
    const seenItems = new Set<string>();
    for (const r of records) {
      if (!r.click || r.item === null) continue;
      if (!this.users.has(r.user) && !seenUsers.has(r.user)) {
        seenUsers.add(r.user);
        newUsers.push(r.user);
      }
      if (!this.items.has(r.item) && !seenItems.has(r.item)) {
        seenItems.add(r.item);
        newItems.push(r.item);
      }
    }
    for (const chunk of chunks(newItems)) {
      const values: SqlValue[] = [];
      for (const name of chunk) values.push(this.dataset.id, name, this.nextColumn + values.length / 3);
      const rows = await this.sql.rows<[number, string, number]>(
        `INSERT INTO items (dataset_id, external_id, column_index, click_count, train_click_count) VALUES ${rowsOf(chunk.length, "?, ?, ?, 0, 0")} RETURNING id, external_id, column_index`,
        values,
      );
      for (const [id, name, column] of rows) this.items.set(name, { id: Number(id), index: Number(column) });
      this.nextColumn += chunk.length;
      this.itemsAdded += chunk.length;
    }
    for (const chunk of chunks(newUsers)) {
      const values: SqlValue[] = [];
      for (const name of chunk) values.push(this.dataset.id, name, this.nextRow + values.length / 3);
      const rows = await this.sql.rows<[number, string, number]>(
        `INSERT INTO users (dataset_id, external_id, row_index, train_click_count, validation_click_count, test_click_count, review_count, word_count)
         VALUES ${rowsOf(chunk.length, "?, ?, ?, 0, 0, 0, 0, 0")} RETURNING id, external_id, row_index`,
        values,
      );
      const empty = Buffer.alloc(0);
      const bags: SqlValue[] = [];
      for (const [id, name, row] of rows) {
        this.users.set(name, { id: Number(id), index: Number(row) });
        bags.push(Number(id), this.dataset.id, empty, empty);
      }
      // Every user has a bag-of-words row, as an ingest writes one for each.
      await this.sql.run(`INSERT INTO user_word_counts (user_id, dataset_id, distinct_words, indices, counts) VALUES ${rowsOf(rows.length, "?, ?, 0, ?, ?")}`, bags);
      this.nextRow += chunk.length;
      this.usersAdded += chunk.length;
    }
  }

  /** Inserts the batch's clicks into the train split, leaving (user, item) pairs the dataset already has. */
  private async addClicks(o: { records: ReadonlyArray<AppendRecord>; gainOf: (userId: number) => UserGain }): Promise<void> {
    const pairs = new Map<string, [number, number]>();
    for (const r of o.records) {
      if (!r.click || r.item === null) continue;
      const user = this.users.get(r.user)!;
      const item = this.items.get(r.item)!;
      const key = `${user.id}:${item.id}`;
      if (pairs.has(key)) this.clicksAlreadyPresent += 1;
      else pairs.set(key, [user.id, item.id]);
    }
    for (const chunk of chunks([...pairs.values()])) {
      const values: SqlValue[] = [];
      for (const [user, item] of chunk) values.push(this.dataset.id, user, item);
      const inserted = await this.sql.rows<[number, number]>(
        `INSERT INTO clicks (dataset_id, user_id, item_id, split) VALUES ${rowsOf(chunk.length, "?, ?, ?, 'train'")} ON CONFLICT (user_id, item_id) DO NOTHING RETURNING user_id, item_id`,
        values,
      );
      for (const [user, item] of inserted) {
        o.gainOf(Number(user)).trainClicks += 1;
        this.itemGains.set(Number(item), (this.itemGains.get(Number(item)) ?? 0) + 1);
      }
      this.clicksAdded += inserted.length;
      this.clicksAlreadyPresent += chunk.length - inserted.length;
    }
  }

  /**
   * Stores the batch's review texts of users the dataset has, and adds their words to the users' bags,
   * except a review of one of the user's validation or test items (the ingest's leakage rule).
   */
  private async addReviews(o: { records: ReadonlyArray<AppendRecord>; gainOf: (userId: number) => UserGain }): Promise<void> {
    const reviews: Array<{ record: AppendRecord; review: AppendReview; user: number; item: number | null }> = [];
    for (const r of o.records) {
      const user = this.users.get(r.user);
      if (user === undefined) {
        this.skipped[NEW_USER_WITHOUT_CLICK] = (this.skipped[NEW_USER_WITHOUT_CLICK] ?? 0) + 1;
        continue;
      }
      if (r.review === null) continue;
      reviews.push({ record: r, review: r.review, user: user.id, item: r.item === null ? null : (this.items.get(r.item)?.id ?? null) });
    }
    const present = await this.storedReviews(reviews.map((r) => ({ user: r.user, item: r.item, time: r.review.time })));
    const fresh = reviews.filter((r) => {
      const key = reviewKey({ user: r.user, item: r.item, text: r.review.text, time: r.review.time });
      if (present.has(key)) return false;
      present.add(key);
      return true;
    });
    this.reviewsAlreadyPresent += reviews.length - fresh.length;
    reviews.splice(0, reviews.length, ...fresh);
    const heldOut = await this.heldOutPairs([...new Set(reviews.filter((r) => r.item !== null && r.record.words.length > 0).map((r) => r.user))]);
    for (const chunk of chunks(reviews)) {
      const values: SqlValue[] = [];
      for (const r of chunk) values.push(this.dataset.id, r.user, r.item, r.review.rating, r.review.text, r.review.summary, r.review.time === null ? null : Math.round(r.review.time));
      await this.sql.run(`INSERT INTO reviews (dataset_id, user_id, item_id, rating, text, summary, time) VALUES ${rowsOf(chunk.length, "?, ?, ?, ?, ?, ?, ?")}`, values);
    }
    this.reviewsAdded += reviews.length;
    for (const r of reviews) {
      const gain = o.gainOf(r.user);
      gain.reviews += 1;
      if (r.item !== null && heldOut.has(`${r.user}:${r.item}`)) continue;
      for (const word of r.record.words) gain.words.set(word, (gain.words.get(word) ?? 0) + 1);
    }
  }

  /**
   * The stored reviews (earlier batches of this append included) that share user, item and time with
   * one of `reviews`, as reviewKey: the texts are read only for those, not for every review of the users.
   */
  private async storedReviews(reviews: ReadonlyArray<{ user: number; item: number | null; time: number | null }>): Promise<Set<string>> {
    const wanted = new Set(reviews.map(reviewSlot));
    const candidates: number[] = [];
    for (const chunk of chunks([...new Set(reviews.map((r) => r.user))])) {
      const rows = await this.sql.rows<[number, number, number | null, number | null]>(`SELECT id, user_id, item_id, time FROM reviews WHERE user_id IN (${placeholders(chunk.length)})`, [...chunk]);
      for (const [id, user, item, time] of rows) {
        if (wanted.has(reviewSlot({ user: Number(user), item: item === null ? null : Number(item), time: time === null ? null : Number(time) }))) candidates.push(Number(id));
      }
    }
    const keys = new Set<string>();
    for (const chunk of chunks(candidates)) {
      const rows = await this.sql.rows<[number, number | null, string, number | null]>(`SELECT user_id, item_id, text, time FROM reviews WHERE id IN (${placeholders(chunk.length)})`, [...chunk]);
      for (const [user, item, text, time] of rows) keys.add(reviewKey({ user: Number(user), item: item === null ? null : Number(item), text, time: time === null ? null : Number(time) }));
    }
    return keys;
  }

  /** The (user, item) pairs of these users' validation and test clicks, as "user:item". */
  private async heldOutPairs(userIds: ReadonlyArray<number>): Promise<Set<string>> {
    const pairs = new Set<string>();
    for (const chunk of chunks(userIds)) {
      const rows = await this.sql.rows<[number, number]>(`SELECT user_id, item_id FROM clicks WHERE user_id IN (${placeholders(chunk.length)}) AND split <> 'train'`, [...chunk]);
      for (const [user, item] of rows) pairs.add(`${Number(user)}:${Number(item)}`);
    }
    return pairs;
  }

  /** Adds the append's gains to users' counters and bags of words, items' click counts and words' statistics. */
  private async updateCounters(): Promise<void> {
    const o = { gains: this.gains, itemGains: this.itemGains };
    const withWords = [...o.gains].filter(([, gain]) => gain.words.size > 0).map(([userId]) => userId);
    const wordCountOf = new Map<number, number>();
    const wordGains = new Map<number, { count: number; users: number }>();
    for (const chunk of chunks(withWords)) {
      const bags = await this.sql.rows<[number, Buffer, Buffer]>(`SELECT user_id, indices, counts FROM user_word_counts WHERE user_id IN (${placeholders(chunk.length)})`, [...chunk]);
      const values: SqlValue[] = [];
      for (const [id, indexBlob, countBlob] of bags) {
        const userId = Number(id);
        const merged = mergeBag({ indices: int32sOf(indexBlob), counts: float32sOf(countBlob), gain: o.gains.get(userId)!.words });
        for (const [word, count] of o.gains.get(userId)!.words) {
          const w = wordGains.get(word) ?? { count: 0, users: 0 };
          w.count += count;
          if (merged.fresh.has(word)) w.users += 1;
          wordGains.set(word, w);
          wordCountOf.set(userId, (wordCountOf.get(userId) ?? 0) + count);
        }
        values.push(userId, this.dataset.id, merged.indices.length, bytesOf(merged.indices), bytesOf(merged.counts));
      }
      if (values.length === 0) continue;
      await this.sql.run(
        `INSERT INTO user_word_counts (user_id, dataset_id, distinct_words, indices, counts) VALUES ${rowsOf(values.length / 5, "?, ?, ?, ?, ?")}
         ON CONFLICT (user_id) DO UPDATE SET distinct_words = excluded.distinct_words, indices = excluded.indices, counts = excluded.counts`,
        values,
      );
    }
    for (const count of wordCountOf.values()) this.wordsAdded += count;
    await this.addByKey({
      table: "users",
      columns: ["train_click_count", "review_count", "word_count"],
      rows: [...o.gains].map(([userId, gain]) => [userId, gain.trainClicks, gain.reviews, wordCountOf.get(userId) ?? 0]),
    });
    await this.addByKey({ table: "items", columns: ["click_count", "train_click_count"], rows: [...o.itemGains].map(([itemId, n]) => [itemId, n, n]) });
    await this.addByKey({
      table: "words",
      key: "word_index",
      columns: ["count", "document_frequency"],
      rows: [...wordGains].map(([word, gain]) => [word, gain.count, gain.users]),
    });
  }

  /** Adds each row's numbers to the columns of the row whose `key` (id, or word_index within the dataset) is the row's first value. */
  private async addByKey(o: { table: "users" | "items" | "words"; key?: "word_index"; columns: ReadonlyArray<string>; rows: ReadonlyArray<ReadonlyArray<number>> }): Promise<void> {
    const key = o.key ?? "id";
    const width = o.columns.length + 1;
    const row = `(${Array.from({ length: width }, () => "CAST(? AS integer)").join(", ")})`;
    const sets = o.columns.map((c, k) => `${c} = ${o.table}.${c} + v.column${k + 2}`).join(", ");
    const sameDataset = key === "id" ? "" : ` AND ${o.table}.dataset_id = ${Number(this.dataset.id)}`;
    for (const chunk of chunks(o.rows)) {
      await this.sql.run(
        `UPDATE ${o.table} SET ${sets} FROM (VALUES ${chunk.map(() => row).join(", ")}) AS v WHERE ${o.table}.${key} = v.column1${sameDataset}`,
        chunk.flat(),
      );
    }
  }
}

/** A user's bag of words with the gained counts added; `fresh` holds the words it did not have. */
function mergeBag(o: { indices: Int32Array; counts: Float32Array; gain: ReadonlyMap<number, number> }): { indices: Int32Array; counts: Float32Array; fresh: Set<number> } {
  const byWord = new Map<number, number>();
  o.indices.forEach((word, k) => byWord.set(word, o.counts[k]));
  const fresh = new Set<number>();
  for (const [word, count] of o.gain) {
    const before = byWord.get(word);
    if (before === undefined) fresh.add(word);
    byWord.set(word, (before ?? 0) + count);
  }
  const indices = Int32Array.from(byWord.keys()).sort();
  const counts = Float32Array.from(indices, (word) => byWord.get(word)!);
  return { indices, counts, fresh };
}

/** The packed little-endian arrays of a blob (copied: a blob need not be 4-byte aligned). */
function int32sOf(blob: Buffer): Int32Array {
  const out = new Int32Array(blob.length / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

function float32sOf(blob: Buffer): Float32Array {
  const out = new Float32Array(blob.length / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

function bytesOf(a: Int32Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function placeholders(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

function rowsOf(n: number, row: string): string {
  return Array.from({ length: n }, () => `(${row})`).join(", ");
}

function chunks<T>(values: ReadonlyArray<T>): T[][] {
  const out: T[][] = [];
  for (let k = 0; k < values.length; k += ROWS_PER_STATEMENT) out.push(values.slice(k, k + ROWS_PER_STATEMENT));
  return out;
}
