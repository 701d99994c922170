/**
 * Appending records to an existing dataset (`vcm ingest --append`, the `appendInteractions` mutation):
 * each record is judged with the rules of the dataset's ingest (its rating threshold, tokenizer, stop
 * words and vocabulary, which never grows) and handed to src/db/dataset-append.ts in batches, all in
 * one transaction. What an append does not do is in docs/operations.md: the minimum-activity filters
 * are not re-run, the original validation and test splits are kept, and appended clicks join train.
 */
import { recordRowsWritten } from "../observability/metrics.ts";
import type { DataSource } from "typeorm";
import { storableReview, type ReviewSink } from "../data/corpus.ts";
import { DEFAULT_PREPROCESS_OPTIONS } from "../data/preprocess.ts";
import { SkipCounter } from "../data/skips.ts";
import type { ReadProgress, RecordSource } from "../data/source.ts";
import { DEFAULT_STOP_WORD_LANGUAGES, stopWordSet, tokenize } from "../data/tokenizer.ts";
import type { RawReview } from "../dataset-shapes.ts";
import { DATABASE_WAIT_MS, retryWhileBusyOrUnavailable, writeOrRefuseWhenBusy } from "../db/busy.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { openDatasetAppend, type AppendCounts, type AppendRecord, type DatasetAppend } from "../db/dataset-append.ts";

/** Most records one `appendInteractions` call may carry; larger appends go through `vcm ingest --append`. */
export const MAX_APPEND_RECORDS = 10_000;

/** Records handed to the database per batch while a file is read. */
const APPEND_BATCH = 5_000;

/** How long a request's append waits for another append or ingest of the same dataset before DATABASE_BUSY. */
const REQUEST_LOCK_WAIT_MS = 5_000;

/** One record as a caller gives it (a mutation's input, a parsed file line). */
export interface AppendInput {
  readonly user: string;
  /** null for a text of the user alone. */
  readonly item: string | null;
  readonly rating: number | null;
  readonly text: string | null;
  readonly summary?: string | null;
  /** Unix time in seconds. */
  readonly time?: number | null;
  /** False for a text that is not an interaction (a tsv texts line); true otherwise. */
  readonly interaction?: boolean;
}

/** What an append reports (the CLI prints it, the mutation answers it). */
export interface AppendSummary extends Omit<AppendCounts, "changedUserIds"> {
  readonly dataset: string;
  readonly datasetId: number;
  /** The dataset's version after the append (unchanged when nothing was added). */
  readonly version: number;
  readonly previousVersion: number;
  /** Whether anything was added (users, items, clicks or reviews). */
  readonly added: boolean;
  readonly recordsRead: number;
  /** Occurrences of words outside the dataset's vocabulary (counted, not added: the vocabulary is fixed). */
  readonly unknownWords: number;
  /** Interactions rated under the dataset's rating threshold: not clicks (their texts are still stored). */
  readonly notClicks: number;
  /** The first few line numbers of each skip reason (files only). */
  readonly skippedLines: Record<string, number[]>;
  /** Texts cut at MAX_REVIEW_LENGTH characters (src/data/corpus.ts). */
  readonly truncated: number;
  readonly seconds: number;
  /** Users whose clicks, reviews or words changed (new users included). */
  readonly changedUsers: number;
  /** One sentence saying what happened, e.g. that nothing was added and why. */
  readonly message: string;
}

/** What a committed append changed, for caches keyed by dataset version or user (the server's). */
export interface AppendCommitted {
  readonly datasetId: number;
  readonly version: number;
  /** Database ids of the users whose clicks, reviews or words changed. */
  readonly changedUserIds: ReadonlyArray<number>;
}

/** Phases of an append, for progress display. */
export type AppendProgress =
  | { readonly phase: "read"; readonly progress: ReadProgress; readonly records: number }
  | { readonly phase: "commit" | "done"; readonly message: string };

/** The ingest rules an append applies, from the dataset's stored options. */
interface AppendRules {
  readonly minRating: number;
  readonly stopWords: ReadonlySet<string>;
  readonly vocabulary: ReadonlyMap<string, number>;
}

/** Judges records with the dataset's rules and counts what falls outside them. */
class RecordJudge {
  unknownWords = 0;
  notClicks = 0;
  truncated = 0;
  constructor(private readonly rules: AppendRules) {}

  /** The record to store, or null when it holds nothing to add (a rating under the threshold without text). */
  judge(input: AppendInput): AppendRecord | null {
    const interaction = input.interaction ?? true;
    const rating = input.rating;
    const click = interaction && input.item !== null && (rating === null || rating >= this.rules.minRating);
    if (interaction && !click) this.notClicks += 1;
    if (input.text === null || input.text === undefined) {
      return click ? { user: input.user, item: input.item, click, review: null, words: [] } : null;
    }
    const { review, truncated } = storableReview({ user: input.user, item: input.item, rating, text: input.text, summary: input.summary ?? null, time: input.time ?? null });
    if (truncated) this.truncated += 1;
    const words: number[] = [];
    for (const token of [...tokenize(review.text, this.rules.stopWords), ...(review.summary === null ? [] : tokenize(review.summary, this.rules.stopWords))]) {
      const index = this.rules.vocabulary.get(token);
      if (index === undefined) this.unknownWords += 1;
      else words.push(index);
    }
    return { user: input.user, item: input.item, click, review: { rating, text: review.text, summary: review.summary, time: review.time }, words };
  }
}

/** The rules of the dataset's ingest, from its stored options (defaults for what an old dataset did not store). */
async function rulesOf(append: DatasetAppend): Promise<AppendRules> {
  const options = append.dataset.options;
  const minRating = typeof options.minRating === "number" ? options.minRating : DEFAULT_PREPROCESS_OPTIONS.minRating;
  const languages = Array.isArray(options.stopWordLanguages) ? options.stopWordLanguages.map(String) : DEFAULT_STOP_WORD_LANGUAGES;
  return { minRating, stopWords: stopWordSet(languages), vocabulary: await append.vocabulary() };
}

/**
 * Appends a request's records (at most MAX_APPEND_RECORDS) in one transaction; malformed ones are
 * skipped and counted per reason. Waits a few seconds for another append or ingest of the dataset,
 * then answers DATABASE_BUSY.
 */
export async function appendRecords(
  dataSource: DataSource,
  o: { dataset: string; records: ReadonlyArray<AppendInput>; onCommitted?: (change: AppendCommitted) => void },
): Promise<AppendSummary> {
  const started = performance.now();
  if (o.records.length > MAX_APPEND_RECORDS) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `This call carries ${o.records.length} records; one call may append at most ${MAX_APPEND_RECORDS}. Split them into several calls, or append a file with \`vcm ingest --append\`.`,
    );
  }
  const append = await writeOrRefuseWhenBusy(() => openDatasetAppend(dataSource, { dataset: o.dataset, lockWaitMs: REQUEST_LOCK_WAIT_MS }), { maxMs: REQUEST_LOCK_WAIT_MS });
  try {
    const judge = new RecordJudge(await rulesOf(append));
    const skips = new SkipCounter();
    const batch: AppendRecord[] = [];
    o.records.forEach((input, k) => {
      const checked = checkedInput(input, skips, k + 1);
      const record = checked === null ? null : judge.judge(checked);
      if (record !== null) batch.push(record);
    });
    await append.add(batch);
    const counts = await append.commit();
    recordAppendedRows(counts);
    o.onCommitted?.({ datasetId: append.dataset.id, version: counts.version, changedUserIds: counts.changedUserIds });
    return summaryOf({ append, counts, judge, skips, recordsRead: o.records.length, started });
  } finally {
    await append.close();
  }
}

/**
 * Appends every record of a source (any ingest format) in batches, in one transaction: a killed
 * process leaves the dataset as it was. Waits for another append or ingest of the dataset (up to
 * DATABASE_WAIT_MS on SQLite; on PostgreSQL until it ends).
 */
export async function appendFromSource(dataSource: DataSource, o: { dataset: string; source: RecordSource; onProgress?: (event: AppendProgress) => void }): Promise<AppendSummary> {
  const started = performance.now();
  const onProgress = o.onProgress ?? (() => undefined);
  const append = await retryWhileBusyOrUnavailable(() => openDatasetAppend(dataSource, { dataset: o.dataset }), { maxMs: DATABASE_WAIT_MS });
  try {
    const judge = new RecordJudge(await rulesOf(append));
    const skips = new SkipCounter();
    // Batches are written in order while reading goes on; a failed one fails the append at the end of the read.
    let written: Promise<void> = Promise.resolve();
    let writeError: unknown = undefined;
    let pending: AppendRecord[] = [];
    let records = 0;
    let inFlight = 0;
    const flush = (): void => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      inFlight += 1;
      written = written
        .then(() => (writeError === undefined ? append.add(batch) : undefined))
        .catch((error: unknown) => {
          writeError ??= error;
        })
        .finally(() => {
          inFlight -= 1;
        });
    };
    const push = (input: AppendInput): void => {
      records += 1;
      const record = judge.judge(input);
      if (record === null) return;
      pending.push(record);
      if (pending.length >= APPEND_BATCH) flush();
    };
    const sink: ReviewSink = {
      interaction: (user, item, rating) => push({ user, item, rating, text: null }),
      review: (review: RawReview, isInteraction: boolean) =>
        push({ user: review.user, item: review.item, rating: review.rating, text: review.text, summary: review.summary, time: review.time, interaction: isInteraction }),
      // Reading waits while more than one batch is still to be written (PostgreSQL is slower than parsing).
      caughtUp: async () => (inFlight > 1 ? written : undefined),
    };
    try {
      await o.source.read({ sink, skips, onProgress: (progress) => onProgress({ phase: "read", progress, records }) });
    } finally {
      flush();
      await written;
    }
    if (writeError !== undefined) throw writeError;
    onProgress({ phase: "commit", message: `committing the append of ${records} records` });
    const counts = await append.commit();
    recordAppendedRows(counts);
    const summary = summaryOf({ append, counts, judge, skips, recordsRead: records, started });
    onProgress({ phase: "done", message: summary.message });
    return summary;
  } finally {
    await append.close();
  }
}

/** The record with its fields checked as a parser checks a line; null (counted) when it cannot be used. */
function checkedInput(input: AppendInput, skips: SkipCounter, line: number): AppendInput | null {
  if (typeof input.user !== "string" || input.user.trim() === "") {
    skips.add("missingUserId", line);
    return null;
  }
  const item = input.item === null || input.item.trim() === "" ? null : input.item;
  if (item === null && (input.text === null || input.text === undefined)) {
    skips.add("missingItemId", line);
    return null;
  }
  if (input.rating !== null && !Number.isFinite(input.rating)) {
    skips.add("ratingNotANumber", line);
    return null;
  }
  return { ...input, item };
}

/** What an append wrote, for the rows-written counter of /metrics. */
function recordAppendedRows(counts: AppendCounts): void {
  recordRowsWritten({ operation: "append", table: "clicks", rows: counts.clicksAdded });
  recordRowsWritten({ operation: "append", table: "reviews", rows: counts.reviewsAdded });
}

function summaryOf(o: { append: DatasetAppend; counts: AppendCounts & { version: number }; judge: RecordJudge; skips: SkipCounter; recordsRead: number; started: number }): AppendSummary {
  const { changedUserIds, ...counts } = o.counts;
  const { append } = o;
  const skipped = { ...o.skips.counts(), ...counts.skipped };
  const added = counts.version !== append.dataset.version;
  const name = append.dataset.name;
  const message = added
    ? `Appended to "${name}": ${counts.usersAdded} new users, ${counts.itemsAdded} new items, ${counts.clicksAdded} clicks, ${counts.reviewsAdded} reviews; it is now version ${counts.version}.`
    : `Nothing was added to "${name}" (still version ${counts.version}): ${nothingAddedBecause({ counts, notClicks: o.judge.notClicks, recordsRead: o.recordsRead, skipped })}.`;
  return {
    ...counts,
    skipped,
    dataset: name,
    datasetId: append.dataset.id,
    previousVersion: append.dataset.version,
    added,
    recordsRead: o.recordsRead,
    unknownWords: o.judge.unknownWords,
    notClicks: o.judge.notClicks,
    skippedLines: o.skips.firstLines(),
    truncated: o.judge.truncated,
    seconds: (performance.now() - o.started) / 1000,
    changedUsers: changedUserIds.length,
    message,
  };
}

/** Why an append added nothing, in words. */
function nothingAddedBecause(o: { counts: Pick<AppendCounts, "clicksAlreadyPresent" | "reviewsAlreadyPresent">; notClicks: number; recordsRead: number; skipped: Record<string, number> }): string {
  if (o.recordsRead === 0) return "there were no records";
  const reasons: string[] = [];
  if (o.counts.clicksAlreadyPresent > 0) reasons.push(`${o.counts.clicksAlreadyPresent} click(s) were already there`);
  if (o.counts.reviewsAlreadyPresent > 0) reasons.push(`${o.counts.reviewsAlreadyPresent} review(s) were already there`);
  if (o.notClicks > 0) reasons.push(`${o.notClicks} rating(s) were under the dataset's rating threshold`);
  for (const [reason, count] of Object.entries(o.skipped)) reasons.push(`${count} record(s) skipped (${reason})`);
  return reasons.length === 0 ? "no record held a new click or review" : reasons.join(", ");
}
