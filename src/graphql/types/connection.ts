/**
 * Relay connections: PageInfo, a factory for `XConnection`/`XEdge` object types, and the value a
 * resolver returns for them. `totalCount` is a getter so its COUNT query runs only when asked for.
 */
import type { ComplexityEstimatorArgs } from "graphql-query-complexity";
import { Field, Int, ObjectType, type ClassType } from "type-graphql";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../limits.ts";

@ObjectType({ description: "Where a page sits in its list (Relay cursor connections)." })
export class PageInfo {
  @Field(() => Boolean, { description: "True when more rows follow endCursor." })
  hasNextPage: boolean;

  @Field(() => Boolean, { description: "True when this page was asked for with `after` (rows precede it)." })
  hasPreviousPage: boolean;

  @Field(() => String, { nullable: true, description: "Cursor of the first edge; null on an empty page." })
  startCursor: string | null;

  @Field(() => String, { nullable: true, description: "Cursor of the last edge: pass it as `after` for the next page." })
  endCursor: string | null;
}

/** One edge as resolvers return it. */
export interface EdgeValue<TNode> {
  readonly cursor: string;
  readonly node: TNode;
}

/** A connection as resolvers return it (the factory's classes describe it to GraphQL). */
export interface ConnectionValue<TNode> {
  readonly edges: ReadonlyArray<EdgeValue<TNode>>;
  readonly pageInfo: PageInfo;
  /** A getter: read (and its COUNT query run) only when the query selects totalCount. */
  readonly totalCount: Promise<number>;
}

/** Builds the connection value from the rows of a page fetched with `first + 1` rows. */
export function toConnection<TNode>(options: {
  rows: ReadonlyArray<TNode>;
  first: number;
  after: string | null | undefined;
  cursorOf: (node: TNode) => string;
  totalCount: () => Promise<number>;
}): ConnectionValue<TNode> {
  const { rows, first, after, cursorOf, totalCount } = options;
  const edges = rows.slice(0, first).map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: after != null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    get totalCount() {
      return totalCount();
    },
  };
}

/**
 * Query cost of a connection field: its selection once per row asked for (`first`, clamped to the
 * page limit so that an oversized `first` gets the sentence about `first`, not about cost).
 */
export function connectionComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const first = typeof args.first === "number" ? args.first : DEFAULT_PAGE_SIZE;
  return 1 + childComplexity * Math.min(Math.max(first, 1), MAX_PAGE_SIZE);
}

/** Creates `<Name>Connection` and `<Name>Edge` object types for a node type. */
export function createConnectionType<TNode extends object>(name: string, nodeType: ClassType<TNode>): ClassType {
  @ObjectType(`${name}Edge`, { description: `One ${name} in a page, with its cursor.` })
  class Edge {
    @Field(() => String, { description: "Pass as `after` to get the rows that follow this one." })
    cursor: string;

    @Field(() => nodeType)
    node: TNode;
  }

  @ObjectType(`${name}Connection`, { description: `A page of ${name} rows (Relay cursor connection).` })
  class Connection {
    @Field(() => [Edge])
    edges: Edge[];

    @Field(() => PageInfo)
    pageInfo: PageInfo;

    @Field(() => Int, { description: "Rows in the whole list with the same filters (ignores first/after)." })
    totalCount: number;
  }

  return Connection;
}
