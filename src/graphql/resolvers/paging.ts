/** Connection plumbing shared by the browse resolvers: `first`/`after` checks and keyset cursors. */
import type { KeysetAfter } from "../../services/catalog-service.ts";
import { decodeCursor, encodeCursor } from "../cursor.ts";
import { checkPageSize } from "../limits.ts";
import { toConnection, type ConnectionValue } from "../types/connection.ts";

/** A page of children ordered by id (reviews, clicks): the cursor holds the last id. */
export async function idOrderedPage<T extends { id: number }>(options: {
  /** Names the list so a cursor of another list is refused. */
  ordering: string;
  first: number | null | undefined;
  after: string | null | undefined;
  /** Loads up to first + 1 rows with an id greater than afterId. */
  load: (page: { first: number; afterId: number | null }) => Promise<T[]>;
  count: () => Promise<number>;
}): Promise<ConnectionValue<T>> {
  const { ordering, after, load, count } = options;
  const first = checkPageSize(options.first);
  const afterId = after == null ? null : decodeCursor({ cursor: after, ordering, keyCount: 1 }).keys[0]!;
  const rows = await load({ first, afterId });
  return toConnection({
    rows,
    first,
    after,
    cursorOf: (row) => encodeCursor({ ordering, keys: [row.id] }),
    totalCount: count,
  });
}

/** A page of a dataset's users or items ordered by id or by a count (training clicks). */
export async function rankedPage<T extends { id: number; trainClickCount: number }>(options: {
  ordering: string;
  byCount: boolean;
  first: number | null | undefined;
  after: string | null | undefined;
  load: (page: { first: number; after: KeysetAfter | null }) => Promise<T[]>;
  count: () => Promise<number>;
}): Promise<ConnectionValue<T>> {
  const { ordering, byCount, after, load, count } = options;
  const first = checkPageSize(options.first);
  let position: KeysetAfter | null = null;
  if (after != null) {
    const keys = decodeCursor({ cursor: after, ordering, keyCount: byCount ? 2 : 1 }).keys;
    position = byCount ? { key: keys[0]!, id: keys[1]! } : { id: keys[0]! };
  }
  const rows = await load({ first, after: position });
  return toConnection({
    rows,
    first,
    after,
    cursorOf: (row) => encodeCursor({ ordering, keys: byCount ? [row.trainClickCount, row.id] : [row.id] }),
    totalCount: count,
  });
}
