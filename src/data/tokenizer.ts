import * as stopword from "stopword";
import { ErrorCode, UserError } from "../errors.ts";

/** Runs of Unicode letters, combining marks and digits; everything else separates words. */
export const TOKEN_PATTERN = /[\p{L}\p{M}\p{N}]+/gu;

/** Stop-word languages used when none are given (ISO 639-3 codes of the `stopword` package). */
export const DEFAULT_STOP_WORD_LANGUAGES: ReadonlyArray<string> = ["eng"];

/** The union of the `stopword` package's lists for the given languages, lowercased. */
export function stopWordSet(languages: ReadonlyArray<string> = DEFAULT_STOP_WORD_LANGUAGES): Set<string> {
  const lists = stopword as unknown as Record<string, unknown>;
  const words = new Set<string>();
  for (const language of languages) {
    const list = lists[language];
    if (!Array.isArray(list) || language === "removeStopwords") {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `There is no stop-word list for language "${language}"; use codes such as eng, deu, fra, spa.`);
    }
    for (const word of list) words.add(String(word).toLowerCase());
  }
  return words;
}

/**
 * Splits text into lowercase words of Unicode letters and digits, dropping stop words and
 * one-character tokens (the "s" and "t" that apostrophes leave behind carry no meaning).
 */
export function tokenize(text: string, stopWords: ReadonlySet<string>): string[] {
  const matches = text.toLowerCase().match(TOKEN_PATTERN);
  if (matches === null) return [];
  return matches.filter((token) => token.length > 1 && !stopWords.has(token));
}

/** One token of a text where it stands: [start, end) in UTF-16 code units of the original text. */
export interface TokenSpan {
  readonly start: number;
  readonly end: number;
  /** The token as `tokenize` gives it (lowercase), or null for a stop word or a one-character token. */
  readonly word: string | null;
}

/**
 * The tokens of a text with their offsets in the original (not lowercased) text, so that a client can
 * mark them up; the words are exactly those `tokenize` returns, in order.
 */
export function tokenSpans(text: string, stopWords: ReadonlySet<string>): TokenSpan[] {
  const spans: TokenSpan[] = [];
  for (const match of text.matchAll(TOKEN_PATTERN)) {
    const token = match[0].toLowerCase();
    const start = match.index!;
    spans.push({ start, end: start + match[0].length, word: token.length > 1 && !stopWords.has(token) ? token : null });
  }
  return spans;
}

/** A character that belongs to a token (one code point). */
const TOKEN_CHARACTER = /[\p{L}\p{M}\p{N}]$/u;

/**
 * At most `first` of a text's token spans, those that start at or after `from` (a UTF-16 offset, as
 * `start` and `end` are), found by scanning from `from` only, so that a page of a long text costs its
 * own length. A token that `from` cuts in two began before it and is left out.
 */
export function tokenSpanPage(options: { text: string; stopWords: ReadonlySet<string>; from: number; first: number }): TokenSpan[] {
  const { text, stopWords, from, first } = options;
  const pattern = new RegExp(TOKEN_PATTERN.source, TOKEN_PATTERN.flags);
  pattern.lastIndex = from;
  const spans: TokenSpan[] = [];
  const cut = from > 0 && TOKEN_CHARACTER.test(text.slice(Math.max(0, from - 2), from));
  for (let match = pattern.exec(text); match !== null && spans.length < first; match = pattern.exec(text)) {
    if (cut && match.index === from) continue;
    const token = match[0].toLowerCase();
    spans.push({ start: match.index, end: match.index + match[0].length, word: token.length > 1 && !stopWords.has(token) ? token : null });
  }
  return spans;
}

/** The raw token matches of a text, before stop-word removal (shared with the corpus builder's fast path). */
export function tokenMatches(text: string): RegExpMatchArray | null {
  return text.toLowerCase().match(TOKEN_PATTERN);
}
