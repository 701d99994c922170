/**
 * GraphQL subscriptions over WebSocket (the graphql-ws protocol) on the server's HTTP listener, at
 * the GraphQL path. Only subscription operations are served there: queries and mutations go over HTTP,
 * where the admin rule and Apollo's plugins apply. Depth and cost limits are checked the same way, and
 * each client address may hold MAX_SOCKETS_PER_ADDRESS sockets of MAX_SUBSCRIPTIONS_PER_SOCKET
 * subscriptions each.
 */
import type http from "node:http";
import type { ClientAddressOf } from "./client-address.ts";
import type { Duplex } from "node:stream";
import { getOperationAST, GraphQLError, parse, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer, type WebSocket } from "ws";
import { ErrorCode, faultAsUserError, UserError } from "../errors.ts";
import { OUTCOME_OK } from "../observability/metrics.ts";
import type { AuthState, GraphQLContext, RateCounter } from "./context.ts";
import { codedError } from "./errors.ts";
import {
  checkNesting,
  MAX_QUERY_TOKENS,
  MAX_SOCKETS_PER_ADDRESS,
  MAX_SUBSCRIPTIONS_PER_SOCKET,
  TOO_MANY_SOCKETS_CLOSE_CODE,
  TOO_MANY_SOCKETS_REASON,
  TOO_MANY_SUBSCRIPTIONS_MESSAGE,
} from "./limits.ts";
import type { PersistedOperations } from "./persisted-operations.ts";
import type { RequestObserver, SubscriptionTrail } from "./request-observer.ts";
import { checkOperationLimits } from "./query-limits.ts";

/** Close code of a socket whose credentials prove nothing: graphql-ws's Unauthorized, HTTP's 401 in the 4xxx range. */
export const UNAUTHENTICATED_CLOSE_CODE = 4401;

/** Close code of a socket whose credentials could not be checked (the database is away): not one of graphql-ws's fatal codes, so clients retry. */
export const UNAVAILABLE_CLOSE_CODE = 4503;

/** A close reason holds at most 123 bytes: the sentence, cut at a word. */
function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= 123) return message;
  let cut = message;
  while (Buffer.byteLength(`${cut}…`) > 123) cut = cut.slice(0, cut.lastIndexOf(" "));
  return `${cut}…`;
}

/** A running WebSocket endpoint. */
export interface SubscriptionServer {
  close(): Promise<void>;
}

/** Serves subscriptions on `httpServer` at `path`, with the same context and error masking as HTTP. */
export function serveSubscriptions(options: {
  httpServer: http.Server;
  path: string;
  schema: GraphQLSchema;
  contextFor: (authorization?: string, auth?: AuthState) => GraphQLContext;
  /** What a socket's `authorization` connection parameter proves (throws UNAUTHENTICATED as over HTTP). */
  authenticate: (request: { authorization: string | undefined; address: string | undefined }) => Promise<AuthState>;
  /** Each subscription counts as a request, and its estimated cost, against its socket's caller. */
  rateLimits: RateCounter;
  /** Under --persisted-only a non-admin socket subscribes only with a registered document. */
  persisted: PersistedOperations;
  /** The client address of the upgrade request, for the cap per address and the rate limits (client-address.ts). */
  clientAddress: ClientAddressOf;
  /** Logs and counts each subscription's start or refusal, and its end (request-observer.ts). */
  observer: Pick<RequestObserver, "subscribed" | "subscriptionEnded">;
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /**
   * Largest WebSocket message, in bytes, as for an HTTP body (ws's default is 100 MiB): a larger one
   * closes the socket with code 1009 before it is parsed.
   */
  maxPayload: number;
}): SubscriptionServer {
  const { schema, formatError, httpServer } = options;
  // The upgrade is ours (noServer), so a socket over the per-address limit never reaches graphql-ws.
  const sockets = new WebSocketServer({ noServer: true, path: options.path, maxPayload: options.maxPayload });
  /** Open sockets per client address. */
  const perAddress = new Map<string, number>();
  const admit = (socket: WebSocket, request: http.IncomingMessage): void => {
    const address = options.clientAddress(request) ?? "unknown";
    const open = perAddress.get(address) ?? 0;
    if (open >= MAX_SOCKETS_PER_ADDRESS) {
      socket.close(TOO_MANY_SOCKETS_CLOSE_CODE, TOO_MANY_SOCKETS_REASON);
      return;
    }
    perAddress.set(address, open + 1);
    socket.once("close", () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
    sockets.emit("connection", socket, request);
  };
  const onUpgrade = (request: http.IncomingMessage, stream: Duplex, head: Buffer): void => {
    sockets.handleUpgrade(request, stream, head, (socket) => admit(socket, request));
  };
  httpServer.on("upgrade", onUpgrade);
  /** What each socket proved when it connected. */
  const proved = new WeakMap<object, AuthState>();
  const authorizationOf = (params: Readonly<Record<string, unknown>> | undefined): string | undefined =>
    typeof params?.authorization === "string" ? params.authorization : undefined;
  /** Each socket's started subscriptions by their graphql-ws id, until they end. */
  const running = new WeakMap<object, Map<string, SubscriptionTrail>>();
  const runningOn = (ctx: object): Map<string, SubscriptionTrail> => {
    const found = running.get(ctx) ?? new Map<string, SubscriptionTrail>();
    running.set(ctx, found);
    return found;
  };
  const codeOf = (errors: ReadonlyArray<GraphQLFormattedError>): string => {
    const code = errors[0]?.extensions?.code;
    return typeof code === "string" ? code : ErrorCode.INTERNAL_SERVER_ERROR;
  };
  const server = useServer(
    {
      schema,
      // A socket whose connection parameters prove nothing is closed with 4401 and the sentence, as HTTP answers 401.
      onConnect: async (ctx) => {
        try {
          proved.set(ctx, await options.authenticate({ authorization: authorizationOf(ctx.connectionParams), address: options.clientAddress(ctx.extra.request) }));
          return true;
        } catch (error) {
          // A database that cannot be reached closes the socket with its sentence too, never as an internal error.
          const refused = error instanceof UserError ? error : faultAsUserError(error);
          if (refused === undefined) throw error;
          ctx.extra.socket.close(refused.code === ErrorCode.UNAUTHENTICATED ? UNAUTHENTICATED_CLOSE_CODE : UNAVAILABLE_CLOSE_CODE, closeReason(refused.message));
          return false;
        }
      },
      context: (ctx) => options.contextFor(authorizationOf(ctx.connectionParams), proved.get(ctx)),
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws has already registered this one.
        if (Object.keys(ctx.subscriptions).length > MAX_SUBSCRIPTIONS_PER_SOCKET) {
          return [codedError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, TOO_MANY_SUBSCRIPTIONS_MESSAGE)];
        }
        try {
          options.persisted.check({ admin: proved.get(ctx)?.admin, query: payload.query, extensions: payload.extensions });
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
          const cost = checkOperationLimits({ schema, document, operation, variables: payload.variables });
          const auth = proved.get(ctx);
          if (auth !== undefined) {
            await options.rateLimits.takeRequest(auth);
            if (cost !== undefined) await options.rateLimits.takeCost(auth, cost);
          }
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          if (error instanceof UserError) return [codedError(error.code, error.message)];
          throw error;
        }
        return undefined;
      },
      // A subscription that started is logged and counted here; one refused before, in onError.
      onOperation: (ctx, id, _payload, args, result) => {
        const operation = getOperationAST(args.document, args.operationName)?.name?.value;
        const started = typeof (result as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function";
        const errors = started ? [] : ((result as { errors?: ReadonlyArray<GraphQLError> }).errors ?? []).map((error) => formatError(error.toJSON(), error));
        const trail = options.observer.subscribed({ operation, keyName: proved.get(ctx)?.keyName, code: started ? OUTCOME_OK : codeOf(errors) });
        if (started) runningOn(ctx).set(id, trail);
        return undefined;
      },
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors === undefined
          ? undefined
          : { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) },
      onError: (ctx, id, payload, errors) => {
        const formatted = errors.map((error) => formatError(error.toJSON(), error));
        const trail = runningOn(ctx).get(id);
        if (trail !== undefined) trail.code = codeOf(formatted);
        else options.observer.subscribed({ operation: payload.operationName ?? undefined, keyName: proved.get(ctx)?.keyName, code: codeOf(formatted) });
        return formatted;
      },
      onComplete: (ctx, id) => {
        const trail = runningOn(ctx).get(id);
        if (trail === undefined) return;
        runningOn(ctx).delete(id);
        options.observer.subscriptionEnded(trail);
      },
    },
    sockets,
  );
  return {
    async close() {
      httpServer.off("upgrade", onUpgrade);
      await server.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}
