/**
 * Opaque Relay cursors: base64url of a small JSON array that names the ordering it belongs to, so a
 * cursor from one ordering is refused by another instead of silently skipping rows.
 */
import { ErrorCode, UserError } from "../errors.ts";

/** A decoded cursor: which ordering issued it, and the sort key values of the last row seen. */
export interface CursorPosition {
  readonly ordering: string;
  readonly keys: ReadonlyArray<number>;
}

const PREFIX = "vcm1";

/** Encodes a position after a row (its sort keys, ending with the row id). */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([PREFIX, position.ordering, ...position.keys]), "utf8").toString("base64url");
}

/** Decodes a cursor issued for `ordering` with `keyCount` keys, or answers BAD_USER_INPUT. */
export function decodeCursor(options: { cursor: string; ordering: string; keyCount: number }): CursorPosition {
  const { cursor, ordering, keyCount } = options;
  const refuse = (why: string): never => {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `The cursor "${cursor.slice(0, 40)}" ${why}; pass the endCursor of a previous page of this same list and ordering.`,
    );
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return refuse("is not a cursor this API issued");
  }
  if (!Array.isArray(parsed) || parsed[0] !== PREFIX || typeof parsed[1] !== "string") {
    return refuse("is not a cursor this API issued");
  }
  if (parsed[1] !== ordering) return refuse(`belongs to another list or ordering (${parsed[1]}, not ${ordering})`);
  const keys = parsed.slice(2);
  if (keys.length !== keyCount || !keys.every((key) => Number.isSafeInteger(key))) {
    return refuse("is damaged");
  }
  return { ordering, keys: keys as number[] };
}
