/**
 * Size, depth and cost limits, checked once the operation and its variables are known (a validation rule
 * would not see the variables, and Apollo would answer GRAPHQL_VALIDATION_FAILED instead of BAD_USER_INPUT).
 * Everything is counted over what the operation expands to, with every fragment written out where it
 * is spread, but each fragment is measured once: a small document of fragments that spread each other
 * twice over (2^28 fields from 1.2 KB) is refused in microseconds instead of being walked.
 */
import { createRequire } from "node:module";
import type { ApolloServerPlugin, BaseContext } from "@apollo/server";
import {
  getVariableValues,
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import type * as QueryComplexity from "graphql-query-complexity";
import { badUserInputError } from "./errors.ts";
import type { HeavyQueryGate } from "./heavy-gate.ts";
import { MAX_QUERY_COST, MAX_QUERY_DEPTH, MAX_QUERY_FIELDS, MAX_QUERY_SELECTIONS } from "./limits.ts";

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
    // Documents reach the estimator only once operationSize has bounded their expansion (the +1: it refuses at equality).
    maxQueryNodes: MAX_QUERY_SELECTIONS + 1,
  });
}

/** What an operation expands to when every fragment is written out where it is spread. */
export interface OperationSize {
  /** Field selections, aliases, repeats and introspection fields included. */
  readonly fields: number;
  /** Selections of every kind: fields, fragment spreads and inline fragments (what the cost estimator walks). */
  readonly selections: number;
  /**
   * Deepest nesting of fields that have selections of their own (as graphql-depth-limit counted it):
   * introspection fields `__*` and everything under them do not count.
   */
  readonly depth: number;
  /** Whether the operation spreads any fragment (then the counts differ from the document's text). */
  readonly spreads: boolean;
}

const EMPTY: OperationSize = Object.freeze({ fields: 0, selections: 0, depth: 0, spreads: false });

/**
 * Measures an operation in time linear in the document: each fragment's size is computed once and
 * reused at every spread. A fragment that spreads itself (through others) is refused: validation
 * refuses it too, but the WebSocket path measures before it validates. Unknown fragments count as
 * nothing (validation refuses them).
 */
export function operationSize(options: { document: DocumentNode; operation: OperationDefinitionNode }): OperationSize {
  const definitions = new Map<string, FragmentDefinitionNode>();
  for (const definition of options.document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) definitions.set(definition.name.value, definition);
  }
  /** Fragment name → its size; `null` while it is being measured (a spread of it then is a cycle). */
  const measured = new Map<string, OperationSize | null>();

  const fragmentSize = (name: string): OperationSize => {
    const known = measured.get(name);
    if (known === null) {
      throw badUserInputError(`Fragment ${name} spreads itself (directly or through other fragments); a fragment cannot contain itself.`);
    }
    if (known !== undefined) return known;
    const definition = definitions.get(name);
    if (definition === undefined) return EMPTY;
    measured.set(name, null);
    const size = selectionSetSize(definition.selectionSet);
    measured.set(name, size);
    return size;
  };

  const selectionSetSize = (selectionSet: SelectionSetNode): OperationSize => {
    let fields = 0;
    let selections = 0;
    let depth = 0;
    let spreads = false;
    for (const selection of selectionSet.selections) {
      selections += 1;
      if (selection.kind === Kind.FIELD) {
        fields += 1;
        if (selection.selectionSet === undefined) continue;
        const inner = selectionSetSize(selection.selectionSet);
        fields += inner.fields;
        selections += inner.selections;
        spreads ||= inner.spreads;
        if (!selection.name.value.startsWith("__")) depth = Math.max(depth, 1 + inner.depth);
      } else {
        const inner = selection.kind === Kind.FRAGMENT_SPREAD ? fragmentSize(selection.name.value) : selectionSetSize(selection.selectionSet);
        fields += inner.fields;
        selections += inner.selections;
        depth = Math.max(depth, inner.depth);
        spreads ||= selection.kind === Kind.FRAGMENT_SPREAD || inner.spreads;
      }
    }
    return { fields, selections, depth, spreads };
  };

  return selectionSetSize(options.operation.selectionSet);
}

/** A count for a sentence: the number itself, or a bound once it is too large to print exactly. */
function countText(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : `more than ${Number.MAX_SAFE_INTEGER}`;
}

/**
 * Checks an operation against the limits and returns its estimated cost, or undefined when its
 * variables do not coerce (execution then stops before any resolver with its own BAD_USER_INPUT,
 * from the same graphql-js function). Throws BAD_USER_INPUT with a sentence when the operation is
 * too large, too deep or too costly, or when its cost cannot be estimated: such a request never runs.
 */
export function checkOperationLimits(options: {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables?: Record<string, unknown> | null;
  maxDepth?: number;
  maxCost?: number;
}): number | undefined {
  const { schema, document, operation } = options;
  const maxDepth = options.maxDepth ?? MAX_QUERY_DEPTH;
  const maxCost = options.maxCost ?? MAX_QUERY_COST;
  const noun = operation.operation === "subscription" ? "subscription" : "query";
  const size = operationSize({ document, operation });
  const expanded = size.spreads ? " once its fragments are written out at every spread" : "";
  if (size.fields > MAX_QUERY_FIELDS) {
    throw badUserInputError(
      `This ${noun} selects ${countText(size.fields)} fields${expanded}, above the limit of ${MAX_QUERY_FIELDS}; split it into several queries.`,
    );
  }
  if (size.selections > MAX_QUERY_SELECTIONS) {
    throw badUserInputError(
      `This ${noun} makes ${countText(size.selections)} selections (fields, fragment spreads and inline fragments)${expanded}, ` +
        `above the limit of ${MAX_QUERY_SELECTIONS}; spread fewer fragments or split it into several queries.`,
    );
  }
  if (size.depth > maxDepth) {
    throw badUserInputError(`This ${noun} nests fields deeper than the limit of ${maxDepth} levels; split it into several queries.`);
  }
  const variables = options.variables ?? {};
  if (getVariableValues(schema, operation.variableDefinitions ?? [], variables).errors !== undefined) return undefined;
  let cost: number;
  try {
    cost = queryCost({ schema, document, variables, operationName: operation.name?.value });
  } catch (error) {
    // Only graphql's and the estimator's own errors are about the document; anything else is a bug (masked, logged).
    if (!(error instanceof GraphQLError)) throw error;
    throw badUserInputError(`This ${noun}'s cost cannot be estimated (${error.message}), so it was not run; check its arguments.`);
  }
  if (!Number.isFinite(cost)) {
    throw badUserInputError(`This ${noun}'s cost cannot be estimated (it came out as ${cost}), so it was not run; ask for smaller pages.`);
  }
  if (cost > maxCost) {
    throw badUserInputError(
      `This ${noun}'s estimated cost is ${cost}, above the limit of ${maxCost}; ask for smaller pages (first, k) or fewer nested lists.`,
    );
  }
  return cost;
}

/**
 * Rejects with BAD_USER_INPUT: subscriptions (served over WebSocket only) and operations over the
 * limits of checkOperationLimits; with a gate, heavy queries wait for their turn there (heavy-gate.ts).
 */
export function queryLimitsPlugin<TContext extends BaseContext>(
  limits: { maxDepth?: number; maxCost?: number; gate?: HeavyQueryGate; onCost?: (cost: number, context: TContext) => Promise<void> } = {},
): ApolloServerPlugin<TContext> {
  const gate = limits.gate;
  return {
    async requestDidStart() {
      /** Gives back this request's turn at the heavy-query gate, once it has one. */
      let release: (() => void) | undefined;
      return {
        async willSendResponse() {
          release?.();
        },
        async didResolveOperation({ schema, document, request, operation, contextValue }) {
          // Apollo answers a document without the operation asked for before this hook, and never runs it.
          if (operation === undefined) return;
          if (operation.operation === "subscription") {
            throw badUserInputError(
              "Subscriptions are served over WebSocket (the graphql-ws protocol) at /graphql, not by HTTP POST; open a WebSocket to subscribe.",
            );
          }
          const cost = checkOperationLimits({ schema, document, operation, variables: request.variables, maxDepth: limits.maxDepth, maxCost: limits.maxCost });
          // Charged before the gate, so a caller over its rate waits for no turn.
          if (cost !== undefined && limits.onCost !== undefined) await limits.onCost(cost, contextValue);
          if (gate !== undefined && operation.operation === "query" && cost !== undefined && cost >= gate.limits.threshold) release = await gate.enter();
        },
      };
    },
  };
}
