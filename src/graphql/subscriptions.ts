/**
 * GraphQL subscriptions over WebSocket (the graphql-ws protocol) on the server's HTTP listener, at
 * the GraphQL path. Only subscription operations are served there: queries and mutations go over HTTP,
 * where the admin rule and Apollo's plugins apply. Depth and cost limits are checked the same way.
 */
import type http from "node:http";
import { getOperationAST, GraphQLError, parse, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import { ErrorCode, UserError } from "../errors.ts";
import type { GraphQLContext } from "./context.ts";
import { codedError } from "./errors.ts";
import { checkNesting, MAX_QUERY_TOKENS } from "./limits.ts";
import { checkOperationLimits } from "./query-limits.ts";

/** A running WebSocket endpoint. */
export interface SubscriptionServer {
  close(): Promise<void>;
}

/** Serves subscriptions on `httpServer` at `path`, with the same context and error masking as HTTP. */
export function serveSubscriptions(options: {
  httpServer: http.Server;
  path: string;
  schema: GraphQLSchema;
  contextFor: (authorization?: string) => GraphQLContext;
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /**
   * Largest WebSocket message, in bytes, as for an HTTP body (ws's default is 100 MiB): a larger one
   * closes the socket with code 1009 before it is parsed.
   */
  maxPayload: number;
}): SubscriptionServer {
  const { schema, formatError } = options;
  const sockets = new WebSocketServer({ server: options.httpServer, path: options.path, maxPayload: options.maxPayload });
  const server = useServer(
    {
      schema,
      context: (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        return options.contextFor(typeof authorization === "string" ? authorization : undefined);
      },
      onSubscribe: (_ctx, _id, payload) => {
        try {
          checkNesting(payload.query);
        } catch (error) {
          if (error instanceof UserError) return [codedError(error.code, error.message)];
          throw error;
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: MAX_QUERY_TOKENS });
        } catch {
          return undefined; // graphql-ws answers the syntax error itself
        }
        const operation = getOperationAST(document, payload.operationName ?? undefined);
        if (!operation) {
          return [
            codedError(
              ErrorCode.BAD_USER_INPUT,
              payload.operationName
                ? `This document has no operation named "${payload.operationName}".`
                : "This document has several operations; name the subscription to run in operationName.",
            ),
          ];
        }
        if (operation.operation !== "subscription") {
          return [
            codedError(
              ErrorCode.BAD_USER_INPUT,
              "Only subscriptions are served over WebSocket; send queries and mutations as HTTP POST requests to /graphql.",
            ),
          ];
        }
        try {
          // Over the limits of HTTP queries, counted over fragments once each (query-limits.ts).
          checkOperationLimits({ schema, document, operation, variables: payload.variables });
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        return undefined;
      },
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors === undefined
          ? undefined
          : { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) },
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
    },
    sockets,
  );
  return {
    async close() {
      await server.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}
