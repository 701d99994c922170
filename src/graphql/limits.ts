/**
 * Limits that keep one query from taking the server down. Every resolver that takes `first`, `k` or a
 * free text checks it here, so the numbers and the sentences live in one place.
 */
import { ErrorCode, UserError } from "../errors.ts";

/** Deepest selection nesting a query may use (introspection fields `__*` are not counted). */
export const MAX_QUERY_DEPTH = 12;
/** Highest estimated cost of one operation; a list field multiplies its selection's cost by its size. */
export const MAX_QUERY_COST = 100_000;
/**
 * Most tokens a document may have: parsing stops there (graphql-js maxTokens) before a deeply nested
 * literal can exhaust the parser's stack, and before thousands of aliases are even read.
 */
export const MAX_QUERY_TOKENS = 5_000;
/** Deepest nesting of brackets ( [ { a document may have, checked before it is parsed. */
export const MAX_BRACKET_NESTING = 200;
/** Most field selections (aliases included) one operation may make, fragments written out at every spread. */
export const MAX_QUERY_FIELDS = 1_000;
/**
 * Most selections of any kind (fields, fragment spreads, inline fragments) one operation may make,
 * fragments written out at every spread: what the cost estimator walks, node by node.
 */
export const MAX_QUERY_SELECTIONS = 10_000;
/** Largest page a connection returns (`first`). */
export const MAX_PAGE_SIZE = 100;
/** Page size when `first` is omitted. */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest ranking or word list a prediction returns (`k`). */
export const MAX_K = 500;
/** Most words `Item.characteristicWords` lists (`k`). */
export const MAX_ITEM_WORDS = 100;
/** Most users `Item.recommendedTo` lists (`k`); each listed user's explanation of the item is computed. */
export const MAX_AUDIENCE_USERS = 100;
/** Most tokens one `highlights` answer holds (`first`, and its default); longer reviews are paged with `from`. */
export const MAX_HIGHLIGHT_TOKENS = 1_000;
/** Most clicked items a `recommendFor` history may list (about ten times a typical user's history). */
export const MAX_WHAT_IF_CLICKS = 1_000;
/** Longest text `recommendForText` and `recommendFor` accept, in characters. */
export const MAX_TEXT_LENGTH = 20_000;
/** Most subscriptions one WebSocket may have open at once; one more is refused with TOO_MANY_SUBSCRIPTIONS. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 10;
/** What a subscription over MAX_SUBSCRIPTIONS_PER_SOCKET is told. */
export const TOO_MANY_SUBSCRIPTIONS_MESSAGE = `This WebSocket already has ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions open, the limit; complete one before starting another.`;
/**
 * Most WebSockets one client address may have open at once. One more is accepted and closed at once
 * with TOO_MANY_SOCKETS_CLOSE_CODE and a reason, which graphql-ws clients report without retrying (a
 * refused upgrade would reach a browser as a bare 1006, and the client would retry).
 */
export const MAX_SOCKETS_PER_ADDRESS = 16;
/** Close code of a WebSocket over MAX_SOCKETS_PER_ADDRESS: HTTP's 429 in the 4xxx range, one graphql-ws clients do not retry. */
export const TOO_MANY_SOCKETS_CLOSE_CODE = 4429;
/** Close reason of such a socket (a close reason holds at most 123 bytes). */
export const TOO_MANY_SOCKETS_REASON = `Over ${MAX_SOCKETS_PER_ADDRESS} WebSockets from one address; close one, or run all subscriptions on one socket.`;

/** Checks a connection's `first` argument and returns the page size to use. */
export function checkPageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `first must be an integer from 0 to ${MAX_PAGE_SIZE}, got ${size}; page through larger results with after.`,
    );
  }
  return size;
}

/** Checks a `highlights` page (`first` tokens from character offset `from`) and returns the values to use. */
export function checkHighlightPage(page: { first: number | null | undefined; from: number | null | undefined }): { first: number; from: number } {
  const first = page.first ?? MAX_HIGHLIGHT_TOKENS;
  const from = page.from ?? 0;
  if (!Number.isInteger(first) || first < 0 || first > MAX_HIGHLIGHT_TOKENS) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `first must be an integer from 0 to ${MAX_HIGHLIGHT_TOKENS}, got ${first}; page through a longer review with from (the last token's end).`,
    );
  }
  if (!Number.isInteger(from) || from < 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `from must be a character offset of 0 or more, got ${from}; pass the last token's end.`);
  }
  return { first, from };
}

/** Checks a ranking size `k` (1 … MAX_K). */
export function checkK(k: number, name = "k"): number {
  return checkCount(k, { name, max: MAX_K });
}

/** Checks characteristicWords' `k` (1 … MAX_ITEM_WORDS). */
export function checkItemWordsK(k: number): number {
  return checkCount(k, { name: "k", max: MAX_ITEM_WORDS });
}

/** Checks recommendedTo's `k` (1 … MAX_AUDIENCE_USERS). */
export function checkAudienceK(k: number): number {
  return checkCount(k, { name: "k", max: MAX_AUDIENCE_USERS });
}

/** Checks a count argument: an integer from 1 to `max`. */
function checkCount(value: number, bound: { name: string; max: number }): number {
  if (!Number.isInteger(value) || value < 1 || value > bound.max) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${bound.name} must be an integer from 1 to ${bound.max}, got ${value}.`);
  }
  return value;
}

/** Checks the clicked item ids of a `recommendFor` history: at most MAX_WHAT_IF_CLICKS. */
export function checkWhatIfClicks(clicks: ReadonlyArray<string>): ReadonlyArray<string> {
  if (clicks.length > MAX_WHAT_IF_CLICKS) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `clicks lists ${clicks.length} items; the limit is ${MAX_WHAT_IF_CLICKS}, so send the most recent ${MAX_WHAT_IF_CLICKS}.`,
    );
  }
  return clicks;
}

/** Checks a free text for `recommendForText` and `recommendFor`: not blank and at most MAX_TEXT_LENGTH characters. */
export function checkText(text: string, name = "text"): string {
  if (text.trim().length === 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty; pass a few words describing what the user likes.`);
  }
  // Characters as a person counts them (code points): an emoji or a CJK extension character is one, not two UTF-16 units.
  if (text.length > MAX_TEXT_LENGTH) {
    const characters = countCharacters(text);
    if (characters > MAX_TEXT_LENGTH) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} has ${characters} characters; the limit is ${MAX_TEXT_LENGTH}, so shorten it.`);
    }
  }
  return text;
}

/** Number of Unicode code points in a string. */
function countCharacters(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/**
 * Refuses a document whose brackets nest deeper than MAX_BRACKET_NESTING, before graphql-js parses it:
 * its parser recurses once per level, and a literal like [[[…]]] 2,500 levels deep exhausts the stack.
 * Strings, block strings and comments are skipped.
 */
export function checkNesting(query: string): void {
  let depth = 0;
  for (let i = 0; i < query.length; i += 1) {
    const c = query[i];
    if (c === "#") {
      while (i < query.length && query[i] !== "\n" && query[i] !== "\r") i += 1;
    } else if (c === '"') {
      if (query.startsWith('"""', i)) {
        const end = query.indexOf('"""', i + 3);
        i = end === -1 ? query.length : end + 2;
      } else {
        for (i += 1; i < query.length && query[i] !== '"' && query[i] !== "\n"; i += 1) if (query[i] === "\\") i += 1;
      }
    } else if (c === "(" || c === "[" || c === "{") {
      depth += 1;
      if (depth > MAX_BRACKET_NESTING) {
        throw new UserError(
          ErrorCode.BAD_USER_INPUT,
          `This document nests brackets deeper than ${MAX_BRACKET_NESTING} levels; no query needs that many, so flatten it.`,
        );
      }
    } else if (c === ")" || c === "]" || c === "}") {
      depth -= 1;
    }
  }
}

/**
 * Requests per minute one API key (or, for open reads, one client address) may send, unless its key
 * says otherwise (`vcm keys create --rate`). Every server on one PostgreSQL database counts together.
 */
export const DEFAULT_REQUESTS_PER_MINUTE = 6_000;
/**
 * Estimated query cost (the estimate MAX_QUERY_COST bounds) one key or address may spend per minute,
 * unless its key says otherwise: twenty of the costliest queries allowed.
 */
export const DEFAULT_COST_PER_MINUTE = 20 * MAX_QUERY_COST;
