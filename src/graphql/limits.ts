/**
 * Limits that keep one query from taking the server down. Every resolver that takes `first`, `k` or a
 * free text checks it here, so the numbers and the sentences live in one place.
 */
import { ErrorCode, UserError } from "../errors.ts";

/** Deepest selection nesting a query may use (introspection fields `__*` are not counted). */
export const MAX_QUERY_DEPTH = 12;
/** Highest estimated cost of one operation; a list field multiplies its selection's cost by its size. */
export const MAX_QUERY_COST = 100_000;
/** Largest page a connection returns (`first`). */
export const MAX_PAGE_SIZE = 100;
/** Page size when `first` is omitted. */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest ranking or word list a prediction returns (`k`). */
export const MAX_K = 500;
/** Longest text `recommendForText` accepts, in characters. */
export const MAX_TEXT_LENGTH = 20_000;

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

/** Checks a ranking size `k` (1 … MAX_K). */
export function checkK(k: number, name = "k"): number {
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} must be an integer from 1 to ${MAX_K}, got ${k}.`);
  }
  return k;
}

/** Checks a free text for `recommendForText`: not blank and at most MAX_TEXT_LENGTH characters. */
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
