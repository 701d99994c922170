import seedrandom from "seedrandom";
import { ErrorCode, UserError } from "../errors.ts";
import type { Corpus } from "./corpus.ts";
import { SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION, type CsrMatrix, type PreprocessedDataset } from "../dataset-shapes.ts";

export { SPLIT_NAMES, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION, type PreprocessedDataset } from "../dataset-shapes.ts";

/** The paper's preprocessing settings (docs/model.md §2). */
export interface PreprocessOptions {
  /** A click is an interaction rated at or above this; interactions without a rating are clicks. */
  readonly minRating: number;
  /** Users need at least this many distinct clicked items (applied with minItemUsers to a fixed point). */
  readonly minUserClicks: number;
  /** Items need at least this many distinct clicking users. */
  readonly minItemUsers: number;
  /** Number of most frequent words kept in the vocabulary. */
  readonly vocabSize: number;
  /** Seed of the per-user 60/20/20 split. */
  readonly seed: number;
}

export const DEFAULT_PREPROCESS_OPTIONS: PreprocessOptions = Object.freeze({
  minRating: 4,
  minUserClicks: 5,
  minItemUsers: 5,
  vocabSize: 10_000,
  seed: 1,
});

/** Fills defaults and rejects values that cannot work, naming the CLI option. */
export function resolvePreprocessOptions(partial: Partial<PreprocessOptions> = {}): PreprocessOptions {
  const options = { ...DEFAULT_PREPROCESS_OPTIONS, ...definedOnly(partial) };
  const checks: Array<[keyof PreprocessOptions, string, boolean]> = [
    ["minRating", "--min-rating must be a number", Number.isFinite(options.minRating)],
    ["minUserClicks", "--min-user-clicks must be a positive integer", isPositiveInteger(options.minUserClicks)],
    ["minItemUsers", "--min-item-users must be a positive integer", isPositiveInteger(options.minItemUsers)],
    ["vocabSize", "--vocab-size must be a positive integer", isPositiveInteger(options.vocabSize)],
    ["seed", "--seed must be an integer", Number.isInteger(options.seed)],
  ];
  for (const [key, message, ok] of checks) {
    if (!ok) throw new UserError(ErrorCode.BAD_USER_INPUT, `${message}, got ${String(options[key])}.`);
  }
  return Object.freeze(options);
}


/** Result of the fixed-point filter over distinct (user, item) clicks. */
export interface FixedPointResult {
  /** 1 for each kept user / item (indexed like the input ids). */
  readonly keepUser: Uint8Array;
  readonly keepItem: Uint8Array;
  readonly keptUsers: number;
  readonly keptItems: number;
  readonly keptClicks: number;
  /** Passes over the clicks until nothing changed. */
  readonly rounds: number;
  /** The filter whose pass left nothing, or null when something is left. */
  readonly emptiedBy: "min-user-clicks" | "min-item-users" | null;
}

/**
 * Removes users with fewer than minUserClicks clicks and items with fewer than minItemUsers users,
 * repeating both until neither removes anything (each removal can push others under the threshold).
 */
export function filterToFixedPoint(options: {
  users: Int32Array;
  items: Int32Array;
  userCount: number;
  itemCount: number;
  minUserClicks: number;
  minItemUsers: number;
}): FixedPointResult {
  const { users, items, userCount, itemCount, minUserClicks, minItemUsers } = options;
  const keepUser = new Uint8Array(userCount).fill(1);
  const keepItem = new Uint8Array(itemCount).fill(1);
  const userClicks = new Int32Array(userCount);
  const itemUsers = new Int32Array(itemCount);
  let rounds = 0;
  let emptiedBy: FixedPointResult["emptiedBy"] = null;
  let changed = true;
  while (changed) {
    changed = false;
    rounds += 1;
    countActive({ users, items, keepUser, keepItem, userClicks, itemUsers });
    let usersLeft = 0;
    for (let u = 0; u < userCount; u++) {
      if (keepUser[u] && userClicks[u] < minUserClicks) {
        keepUser[u] = 0;
        changed = true;
      }
      usersLeft += keepUser[u];
    }
    if (usersLeft === 0) {
      emptiedBy = "min-user-clicks";
      keepItem.fill(0);
      break;
    }
    countActive({ users, items, keepUser, keepItem, userClicks, itemUsers });
    let itemsLeft = 0;
    for (let i = 0; i < itemCount; i++) {
      if (keepItem[i] && itemUsers[i] < minItemUsers) {
        keepItem[i] = 0;
        changed = true;
      }
      itemsLeft += keepItem[i];
    }
    if (itemsLeft === 0) {
      emptiedBy = "min-item-users";
      keepUser.fill(0);
      break;
    }
  }
  let keptClicks = 0;
  for (let k = 0; k < users.length; k++) if (keepUser[users[k]] && keepItem[items[k]]) keptClicks += 1;
  return {
    keepUser,
    keepItem,
    keptUsers: keepUser.reduce((a, b) => a + b, 0),
    keptItems: keepItem.reduce((a, b) => a + b, 0),
    keptClicks,
    rounds,
    emptiedBy,
  };
}

function countActive(options: {
  users: Int32Array;
  items: Int32Array;
  keepUser: Uint8Array;
  keepItem: Uint8Array;
  userClicks: Int32Array;
  itemUsers: Int32Array;
}): void {
  const { users, items, keepUser, keepItem, userClicks, itemUsers } = options;
  userClicks.fill(0);
  itemUsers.fill(0);
  for (let k = 0; k < users.length; k++) {
    const u = users[k];
    const i = items[k];
    if (keepUser[u] && keepItem[i]) {
      userClicks[u] += 1;
      itemUsers[i] += 1;
    }
  }
}

/** Sizes of a user's validation and test parts: 20 % each, rounded; the rest is training. */
export function splitSizes(clicks: number): { train: number; validation: number; test: number } {
  const validation = Math.round(clicks * 0.2);
  const test = Math.round(clicks * 0.2);
  return { train: clicks - validation - test, validation, test };
}

/**
 * Shuffles one user's clicks with a generator seeded by (seed, user id) and cuts them 60/20/20, so
 * a user's split does not depend on file order or on the other users.
 */
export function splitUserClicks<T>(
  clicks: ReadonlyArray<T>,
  options: { seed: number; user: string },
): { train: T[]; validation: T[]; test: T[] } {
  const random = seedrandom.alea(`${options.seed}\u0000${options.user}`);
  const shuffled = [...clicks];
  for (let k = shuffled.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [shuffled[k], shuffled[j]] = [shuffled[j], shuffled[k]];
  }
  const sizes = splitSizes(shuffled.length);
  return {
    train: shuffled.slice(0, sizes.train),
    validation: shuffled.slice(sizes.train, sizes.train + sizes.validation),
    test: shuffled.slice(sizes.train + sizes.validation),
  };
}

/** Token ids of the `size` most frequent words, most frequent first, ties broken alphabetically. */
export function selectVocabulary(options: {
  counts: ArrayLike<number>;
  names: ReadonlyArray<string>;
  size: number;
}): Int32Array {
  const { counts, names, size } = options;
  const candidates: number[] = [];
  for (let t = 0; t < counts.length; t++) if (counts[t] > 0) candidates.push(t);
  candidates.sort((a, b) => counts[b] - counts[a] || (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
  return Int32Array.from(candidates.slice(0, size));
}

/** Binarise, deduplicate, filter to a fixed point, split, choose the vocabulary and build bags of words. */
export function preprocessCorpus(corpus: Corpus, options: PreprocessOptions): PreprocessedDataset {
  const { clickUsers, clickItems } = distinctClicks(corpus, options.minRating);
  const filtered = filterToFixedPoint({
    users: clickUsers,
    items: clickItems,
    userCount: corpus.userNames.length,
    itemCount: corpus.itemNames.length,
    minUserClicks: options.minUserClicks,
    minItemUsers: options.minItemUsers,
  });
  if (filtered.emptiedBy !== null) {
    throw emptiedError({ emptiedBy: filtered.emptiedBy, options, corpus, distinctClickCount: clickUsers.length });
  }

  const { names: userNames, rank: rowOf } = sortedKept(corpus.userNames, filtered.keepUser);
  const { names: itemNames, rank: colOf } = sortedKept(corpus.itemNames, filtered.keepItem);
  const rows = userNames.length;

  // Group the kept clicks by row, columns ascending.
  const clickIndptr = new Int32Array(rows + 1);
  for (let k = 0; k < clickUsers.length; k++) {
    const row = rowOf[clickUsers[k]];
    if (row >= 0 && colOf[clickItems[k]] >= 0) clickIndptr[row + 1] += 1;
  }
  for (let r = 0; r < rows; r++) clickIndptr[r + 1] += clickIndptr[r];
  const clickCols = new Int32Array(clickIndptr[rows]);
  const fill = clickIndptr.slice(0, rows);
  for (let k = 0; k < clickUsers.length; k++) {
    const row = rowOf[clickUsers[k]];
    const col = colOf[clickItems[k]];
    if (row >= 0 && col >= 0) clickCols[fill[row]++] = col;
  }
  const clickSplit = new Uint8Array(clickCols.length);
  const itemClickCounts = new Int32Array(itemNames.length);
  const itemTrainClickCounts = new Int32Array(itemNames.length);
  const splitTotals = [0, 0, 0];
  for (let r = 0; r < rows; r++) {
    const start = clickIndptr[r];
    const end = clickIndptr[r + 1];
    const cols = clickCols.subarray(start, end).sort();
    const parts = splitUserClicks(Array.from(cols), { seed: options.seed, user: userNames[r] });
    const splitOf = new Map<number, number>();
    for (const c of parts.validation) splitOf.set(c, SPLIT_VALIDATION);
    for (const c of parts.test) splitOf.set(c, SPLIT_TEST);
    for (let k = start; k < end; k++) {
      const split = splitOf.get(clickCols[k]) ?? SPLIT_TRAIN;
      clickSplit[k] = split;
      splitTotals[split] += 1;
      itemClickCounts[clickCols[k]] += 1;
      if (split === SPLIT_TRAIN) itemTrainClickCounts[clickCols[k]] += 1;
    }
  }

  // The leakage rule: a review of one of the user's validation/test items never reaches the bag of words.
  const reviewCount = corpus.reviewUser.length;
  const reviewRow = new Int32Array(reviewCount);
  const reviewCol = new Int32Array(reviewCount);
  const eligible = new Uint8Array(reviewCount);
  const userReviewCounts = new Int32Array(rows);
  let keptReviews = 0;
  for (let s = 0; s < reviewCount; s++) {
    const row = rowOf[corpus.reviewUser[s]];
    const item = corpus.reviewItem[s];
    const col = item >= 0 ? colOf[item] : -1;
    reviewRow[s] = row;
    reviewCol[s] = row >= 0 ? col : -1;
    if (row < 0) continue;
    keptReviews += 1;
    userReviewCounts[row] += 1;
    eligible[s] = col < 0 || splitOfClick({ clickIndptr, clickCols, clickSplit, row, col }) <= SPLIT_TRAIN ? 1 : 0;
  }

  const tokenCounts = new Int32Array(corpus.tokenNames.length);
  for (let s = 0; s < reviewCount; s++) {
    if (!eligible[s]) continue;
    for (let k = corpus.tokenStart[s]; k < corpus.tokenStart[s + 1]; k++) tokenCounts[corpus.tokens.get(k)] += 1;
  }
  const vocabularyTokens = selectVocabulary({ counts: tokenCounts, names: corpus.tokenNames, size: options.vocabSize });
  const wordOf = new Int32Array(corpus.tokenNames.length).fill(-1);
  vocabularyTokens.forEach((token, index) => {
    wordOf[token] = index;
  });
  const words = bagsOfWords({ corpus, eligible, reviewRow, rows, wordOf, vocabularySize: vocabularyTokens.length });
  const documentFrequency = new Int32Array(vocabularyTokens.length);
  for (const w of words.indices) documentFrequency[w] += 1;

  return {
    userNames,
    itemNames,
    clickIndptr,
    clickCols,
    clickSplit,
    words,
    vocabulary: Array.from(vocabularyTokens, (t) => corpus.tokenNames[t]),
    vocabularyCounts: Int32Array.from(vocabularyTokens, (t) => tokenCounts[t]),
    documentFrequency,
    reviewRow,
    reviewCol,
    userReviewCounts,
    itemClickCounts,
    itemTrainClickCounts,
    counts: { train: splitTotals[0], validation: splitTotals[1], test: splitTotals[2], reviews: keptReviews },
  };
}

/** Distinct (user, item) pairs whose rating makes them a click (any record of the pair suffices). */
function distinctClicks(corpus: Corpus, minRating: number): { clickUsers: Int32Array; clickItems: Int32Array } {
  const itemCount = corpus.itemNames.length;
  const keys = new Float64Array(corpus.interactionUser.length);
  let n = 0;
  for (let k = 0; k < keys.length; k++) {
    const rating = corpus.interactionRating[k];
    if (Number.isNaN(rating) || rating >= minRating) {
      keys[n++] = corpus.interactionUser[k] * itemCount + corpus.interactionItem[k];
    }
  }
  const sorted = keys.subarray(0, n).sort();
  let distinct = 0;
  for (let k = 0; k < n; k++) if (k === 0 || sorted[k] !== sorted[k - 1]) sorted[distinct++] = sorted[k];
  const clickUsers = new Int32Array(distinct);
  const clickItems = new Int32Array(distinct);
  for (let k = 0; k < distinct; k++) {
    clickUsers[k] = Math.floor(sorted[k] / itemCount);
    clickItems[k] = sorted[k] - clickUsers[k] * itemCount;
  }
  return { clickUsers, clickItems };
}

/** Kept names sorted, with each interned id's rank among them (−1 when dropped). */
function sortedKept(names: ReadonlyArray<string>, keep: Uint8Array): { names: string[]; rank: Int32Array } {
  const ids: number[] = [];
  for (let k = 0; k < names.length; k++) if (keep[k]) ids.push(k);
  ids.sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
  const rank = new Int32Array(names.length).fill(-1);
  ids.forEach((id, position) => {
    rank[id] = position;
  });
  return { names: ids.map((id) => names[id]), rank };
}

/** The split of click (row, col), or −1 when the user did not click the item (binary search in the row). */
function splitOfClick(options: {
  clickIndptr: Int32Array;
  clickCols: Int32Array;
  clickSplit: Uint8Array;
  row: number;
  col: number;
}): number {
  const { clickIndptr, clickCols, clickSplit, row, col } = options;
  let lo = clickIndptr[row];
  let hi = clickIndptr[row + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const value = clickCols[mid];
    if (value === col) return clickSplit[mid];
    if (value < col) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function bagsOfWords(options: {
  corpus: Corpus;
  eligible: Uint8Array;
  reviewRow: Int32Array;
  rows: number;
  wordOf: Int32Array;
  vocabularySize: number;
}): CsrMatrix {
  const { corpus, eligible, reviewRow, rows, wordOf, vocabularySize } = options;
  // Counting sort of the eligible reviews by row, so each user's bag is built in one pass.
  const start = new Int32Array(rows + 1);
  for (let s = 0; s < eligible.length; s++) if (eligible[s]) start[reviewRow[s] + 1] += 1;
  for (let r = 0; r < rows; r++) start[r + 1] += start[r];
  const byRow = new Int32Array(start[rows]);
  const fill = start.slice(0, rows);
  for (let s = 0; s < eligible.length; s++) if (eligible[s]) byRow[fill[reviewRow[s]]++] = s;

  // Two passes over the tokens (count distinct words per row, then fill) so the matrix is allocated
  // once at its exact size instead of per-row pieces plus a copy.
  const seenInRow = new Int32Array(vocabularySize).fill(-1);
  const indptr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    let distinct = 0;
    for (let k = start[r]; k < start[r + 1]; k++) {
      const s = byRow[k];
      for (let t = corpus.tokenStart[s]; t < corpus.tokenStart[s + 1]; t++) {
        const w = wordOf[corpus.tokens.get(t)];
        if (w >= 0 && seenInRow[w] !== r) {
          seenInRow[w] = r;
          distinct += 1;
        }
      }
    }
    indptr[r + 1] = indptr[r] + distinct;
  }
  const indices = new Int32Array(indptr[rows]);
  const values = new Float32Array(indptr[rows]);
  const scratch = new Float32Array(vocabularySize);
  for (let r = 0; r < rows; r++) {
    let fill = indptr[r];
    for (let k = start[r]; k < start[r + 1]; k++) {
      const s = byRow[k];
      for (let t = corpus.tokenStart[s]; t < corpus.tokenStart[s + 1]; t++) {
        const w = wordOf[corpus.tokens.get(t)];
        if (w < 0) continue;
        if (scratch[w] === 0) indices[fill++] = w;
        scratch[w] += 1;
      }
    }
    const row = indices.subarray(indptr[r], indptr[r + 1]).sort();
    for (let k = 0; k < row.length; k++) {
      values[indptr[r] + k] = scratch[row[k]];
      scratch[row[k]] = 0;
    }
  }
  return { rows, cols: vocabularySize, indptr, indices, values };
}

/** The sentence for a dataset that preprocessing emptied, naming the option to change. */
function emptiedError(context: {
  emptiedBy: "min-user-clicks" | "min-item-users";
  options: PreprocessOptions;
  corpus: Corpus;
  distinctClickCount: number;
}): UserError {
  const { emptiedBy, options, corpus, distinctClickCount } = context;
  if (corpus.interactionUser.length === 0) {
    return new UserError(ErrorCode.BAD_USER_INPUT, "The input has no interactions, so no user is left; check the file and --format.");
  }
  if (distinctClickCount === 0) {
    return new UserError(
      ErrorCode.BAD_USER_INPUT,
      `The filter --min-rating ${options.minRating} left no clicks: no interaction is rated ${options.minRating} or more; lower --min-rating.`,
    );
  }
  if (emptiedBy === "min-user-clicks") {
    return new UserError(
      ErrorCode.BAD_USER_INPUT,
      `The filter --min-user-clicks ${options.minUserClicks} (applied with --min-item-users ${options.minItemUsers} until nothing changes) removed every user; lower it.`,
    );
  }
  return new UserError(
    ErrorCode.BAD_USER_INPUT,
    `The filter --min-item-users ${options.minItemUsers} (applied with --min-user-clicks ${options.minUserClicks} until nothing changes) removed every item, so no user is left; lower it.`,
  );
}

function isPositiveInteger(value: number): boolean {
  return Number.isInteger(value) && value > 0;
}

function definedOnly<T extends object>(partial: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<T>;
}
