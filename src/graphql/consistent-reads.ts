/**
 * One answer, one version of the data (issue 8, item 4). A query's fields are read at different
 * moments, and another process (an ingest --replace, another server's deleteModel) may commit in
 * between: the answer would mix the old and the new, e.g. a totalCount of the new dataset beside the
 * old one's users. SQLite's data_version tells whether any other connection committed while the
 * query ran; if one did, the query runs again (up to MAX_ATTEMPTS times, then the last answer goes).
 * Mutations never run twice.
 */
import type { ApolloServerPlugin } from "@apollo/server";
import type { GraphQLContext } from "./context.ts";

/** Runs of one query at most: a second run reads after the commit that spoiled the first. */
export const MAX_ATTEMPTS = 3;

/** Records the kind of the operation a request resolved to, which decides whether it may run again. */
export function operationKindPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation }) {
          contextValue.request.operation = operation?.operation;
        },
      };
    },
  };
}

/**
 * Runs `execute` with a fresh context until no other connection committed during the run (queries
 * only), and returns the last result with the number of runs.
 */
export async function executeConsistently<R>(options: {
  /** Other connections' commits so far (catalog-freshness.ts commitCount); absent: one run. */
  commits: (() => number) | undefined;
  context: () => GraphQLContext;
  execute: (context: GraphQLContext) => Promise<R>;
}): Promise<{ result: R; attempts: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const context = options.context();
    const before = options.commits?.();
    const result = await options.execute(context);
    const spoiled = before !== undefined && context.request.operation === "query" && options.commits!() !== before;
    if (!spoiled || attempt >= MAX_ATTEMPTS) return { result, attempts: attempt };
  }
}
