/**
 * What a server records of each HTTP request (issue 26, items 4 to 6): a request id (sent back in the
 * x-request-id header and in every error's extensions), one log line, the GraphQL request counter and
 * latency histogram, and a span around a GraphQL request that the plugin names after its operation;
 * and of each subscription over WebSocket, a line and a count when it starts or is refused, and a line
 * with its duration when it ends, while a gauge holds the running ones.
 */
import type http from "node:http";
import type { ApolloServerPlugin } from "@apollo/server";
import { ErrorCode } from "../errors.ts";
import { randomUUID } from "node:crypto";
import { ANONYMOUS_OPERATION, OUTCOME_OK, recordGraphqlRequest, recordSubscription, recordSubscriptionEnd } from "../observability/metrics.ts";
import { REQUEST_ID_HEADER, type RequestLog, type RequestTrail } from "../observability/request-log.ts";
import { activeSpan, inSpan } from "../observability/tracing.ts";
import type { GraphQLContext } from "./context.ts";

/**
 * The outcome of a request whose code nobody recorded: every refusal records its own (sendError in
 * server.ts, the ops routes, the GraphQL plugin below), so only a success or an unforeseen failure is left.
 */
function unrecordedOutcome(status: number): string {
  return status < 400 ? OUTCOME_OK : ErrorCode.INTERNAL_SERVER_ERROR;
}

/** One subscription between its start and its end. */
export interface SubscriptionTrail {
  readonly id: string;
  readonly operation: string | undefined;
  readonly keyName: string | undefined;
  readonly started: number;
  /** OK, or the code of an error that ended it. */
  code: string;
}

export class RequestObserver {
  readonly #log: RequestLog;
  /** Requests being answered, by id: the plugin finds its request's trail here. */
  readonly #trails = new Map<string, RequestTrail>();

  constructor(log: RequestLog) {
    this.#log = log;
  }

  /**
   * Runs `handle` for one request with an id of its own (which replaces any x-request-id the client
   * sent, so that a log line's id is always this server's), logging the request once its response
   * closes; a GraphQL request (`graphql`) is also counted and runs in a span. `handle` records the
   * code of a refusal it sends on the trail.
   */
  async observe(options: { request: http.IncomingMessage; response: http.ServerResponse; graphql: boolean; quiet: boolean }, handle: (trail: RequestTrail) => Promise<void>): Promise<void> {
    const { request, response, graphql } = options;
    const method = (request.method ?? "GET").toUpperCase();
    const trail = this.#log.start({ method, path: new URL(request.url ?? "/", "http://localhost").pathname });
    request.headers[REQUEST_ID_HEADER] = trail.id;
    response.setHeader(REQUEST_ID_HEADER, trail.id);
    this.#trails.set(trail.id, trail);
    response.once("close", () => {
      this.#trails.delete(trail.id);
      const code = trail.code ?? unrecordedOutcome(response.statusCode);
      if (graphql) recordGraphqlRequest({ operation: trail.operation, code, seconds: (performance.now() - trail.started) / 1000 });
      this.#log.finish({ trail, status: response.statusCode, code, quiet: options.quiet });
    });
    if (!graphql) return handle(trail);
    await inSpan({ name: "graphql", attributes: { "http.request.method": method, "vcm.request_id": trail.id } }, async (span) => {
      await handle(trail);
      span.setAttribute("vcm.outcome", trail.code ?? unrecordedOutcome(response.statusCode));
    });
  }

  /**
   * A subscription was asked for: logs and counts its start (`code` OK; the trail returned is ended by
   * `subscriptionEnded`) or its refusal (any other code; nothing to end).
   */
  subscribed(options: { operation: string | undefined; keyName: string | undefined; code: string }): SubscriptionTrail {
    const trail: SubscriptionTrail = { id: randomUUID(), started: performance.now(), ...options };
    recordSubscription({ operation: options.operation, code: options.code });
    this.#log.subscription({ id: trail.id, event: "subscribe", operation: trail.operation, keyName: trail.keyName, code: trail.code });
    return trail;
  }

  /** A subscription that started has ended (its stream ended, its client stopped it, or its socket closed). */
  subscriptionEnded(trail: SubscriptionTrail): void {
    recordSubscriptionEnd(trail.operation);
    this.#log.subscription({ id: trail.id, event: "complete", operation: trail.operation, keyName: trail.keyName, code: trail.code, ms: performance.now() - trail.started });
  }

  /** Records the operation's name and outcome on its request's trail and span, and the request id in every error. */
  plugin(): ApolloServerPlugin<GraphQLContext> {
    const trails = this.#trails;
    return {
      async requestDidStart({ request }) {
        const id = request.http?.headers.get(REQUEST_ID_HEADER);
        const trail = id === undefined ? undefined : trails.get(id);
        return {
          async didResolveOperation({ operationName, operation }) {
            if (trail !== undefined) trail.operation = operationName ?? undefined;
            const type = operation?.operation ?? "query";
            activeSpan()?.updateName(`graphql ${type} ${operationName ?? ANONYMOUS_OPERATION}`);
            activeSpan()?.setAttributes({ "graphql.operation.type": type, "graphql.operation.name": operationName ?? ANONYMOUS_OPERATION });
          },
          async willSendResponse({ response }) {
            if (response.body.kind !== "single") return;
            const errors = response.body.singleResult.errors;
            const first = errors?.[0]?.extensions?.code;
            if (trail !== undefined) trail.code = errors === undefined || errors.length === 0 ? OUTCOME_OK : typeof first === "string" ? first : ErrorCode.INTERNAL_SERVER_ERROR;
            if (id === undefined || errors === undefined) return;
            response.body.singleResult.errors = errors.map((error) => ({ ...error, extensions: { ...error.extensions, requestId: id } }));
          },
        };
      },
    };
  }
}
