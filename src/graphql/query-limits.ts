/**
 * Depth and cost limits, checked once the operation and its variables are known (a validation rule
 * would not see the variables, and Apollo would answer GRAPHQL_VALIDATION_FAILED instead of BAD_USER_INPUT).
 */
import { createRequire } from "node:module";
import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLError, Kind, validate, visit, type DocumentNode, type GraphQLSchema } from "graphql";
import depthLimit from "graphql-depth-limit";
import type * as QueryComplexity from "graphql-query-complexity";
import { badUserInputError } from "./errors.ts";
import type { HeavyQueryGate } from "./heavy-gate.ts";
import { MAX_QUERY_COST, MAX_QUERY_DEPTH, MAX_QUERY_FIELDS } from "./limits.ts";

/**
 * graphql-query-complexity's ESM build imports graphql's .mjs files, a second graphql instance that
 * refuses our schema ("from another module or realm"); its CommonJS build shares the one Node loads.
 */
const { fieldExtensionsEstimator, getComplexity, simpleEstimator } = createRequire(import.meta.url)(
  "graphql-query-complexity",
) as typeof QueryComplexity;

/** The estimated cost of an operation: field `complexity` where declared, else 1 per field. */
export function queryCost(options: {
  schema: GraphQLSchema;
  document: DocumentNode;
  variables?: Record<string, unknown>;
  operationName?: string | null;
}): number {
  return getComplexity({
    schema: options.schema,
    query: options.document,
    variables: options.variables,
    operationName: options.operationName ?? undefined,
    estimators: [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })],
  });
}

/** Number of field selections in a document, aliases and fragments' fields included. */
export function fieldCount(document: DocumentNode): number {
  let n = 0;
  visit(document, { [Kind.FIELD]: () => void (n += 1) });
  return n;
}

/**
 * Rejects with BAD_USER_INPUT: subscriptions (served over WebSocket only), documents with more than
 * MAX_QUERY_FIELDS selections, operations deeper than MAX_QUERY_DEPTH or costlier than MAX_QUERY_COST;
 * with a gate, heavy queries wait for their turn there (heavy-gate.ts).
 */
export function queryLimitsPlugin(limits: { maxDepth?: number; maxCost?: number; gate?: HeavyQueryGate } = {}): ApolloServerPlugin {
  const maxDepth = limits.maxDepth ?? MAX_QUERY_DEPTH;
  const maxCost = limits.maxCost ?? MAX_QUERY_COST;
  const gate = limits.gate;
  return {
    async requestDidStart() {
      /** Gives back this request's turn at the heavy-query gate, once it has one. */
      let release: (() => void) | undefined;
      return {
        async willSendResponse() {
          release?.();
        },
        async didResolveOperation({ schema, document, request, operationName, operation }) {
          if (operation?.operation === "subscription") {
            throw badUserInputError(
              "Subscriptions are served over WebSocket (the graphql-ws protocol) at /graphql, not by HTTP POST; open a WebSocket to subscribe.",
            );
          }
          const fields = fieldCount(document);
          if (fields > MAX_QUERY_FIELDS) {
            throw badUserInputError(`This query selects ${fields} fields, above the limit of ${MAX_QUERY_FIELDS}; split it into several queries.`);
          }
          const depthErrors = validate(schema, document, [depthLimit(maxDepth)]);
          if (depthErrors.length > 0) {
            throw badUserInputError(
              `This query nests fields deeper than the limit of ${maxDepth} levels; split it into several queries.`,
            );
          }
          let cost: number;
          try {
            cost = queryCost({ schema, document, variables: request.variables, operationName });
          } catch (error) {
            // Variables that do not coerce stop the request at execution with Apollo's own BAD_USER_INPUT.
            if (error instanceof GraphQLError) return;
            throw error;
          }
          if (cost > maxCost) {
            throw badUserInputError(
              `This query's estimated cost is ${cost}, above the limit of ${maxCost}; ` +
                "ask for smaller pages (first, k) or fewer nested lists.",
            );
          }
          if (gate !== undefined && operation?.operation === "query" && cost >= gate.limits.threshold) release = await gate.enter();
        },
      };
    },
  };
}
