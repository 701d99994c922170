import { decodeHtmlEntities } from "./html-entities.ts";

/** Deepest list nesting flattened into categories (Amazon 2014 nests two levels). */
const MAX_CATEGORY_DEPTH = 8;

/** A display text: HTML entities decoded and trimmed; null when absent, not a string, or empty. */
export function cleanText(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const text = decodeHtmlEntities(value).trim();
  return text === "" ? null : text;
}

/**
 * Categories from any mix of strings and (nested) lists of strings, flattened in order, each cleaned
 * like a title; empty ones are dropped and repeats keep their first place.
 */
export function categoryList(values: ReadonlyArray<unknown>): string[] {
  const seen = new Set<string>();
  const visit = (value: unknown, depth: number): void => {
    if (Array.isArray(value)) {
      if (depth < MAX_CATEGORY_DEPTH) for (const inner of value) visit(inner, depth + 1);
      return;
    }
    const text = cleanText(value);
    if (text !== null) seen.add(text);
  };
  for (const value of values) visit(value, 0);
  return [...seen];
}

/**
 * An attribute worth keeping: a cleaned non-empty string, a finite number, a boolean, or a non-empty
 * plain object or list as given; undefined for anything else (null, "", NaN), so it is left out.
 */
export function attributeValue(value: unknown): unknown {
  if (typeof value === "string") return cleanText(value) ?? undefined;
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "boolean") return value;
  if (Array.isArray(value)) return value.length > 0 ? value : undefined;
  if (value !== null && typeof value === "object") return Object.keys(value).length > 0 ? value : undefined;
  return undefined;
}

/** The named fields of a record that have a value worth keeping, in the order of `names`. */
export function pickAttributes(record: Readonly<Record<string, unknown>>, names: ReadonlyArray<string>): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const name of names) {
    if (!Object.hasOwn(record, name)) continue;
    const value = attributeValue(record[name]);
    if (value !== undefined) attributes[name] = value;
  }
  return attributes;
}
