/**
 * The operations endpoints beside GraphQL (issue 26, items 3 and 4): GET /health (the process answers),
 * GET /ready (database reachable and migrated, engine backend started, not shutting down; else 503 with
 * a reason) and GET /metrics (Prometheus text; on the main port only with the admin credential, and
 * without one on the separate loopback port of `--metrics-port`).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode, UserError } from "../errors.ts";
import { METRICS_CONTENT_TYPE, metricsText } from "../observability/metrics.ts";
import type { ReadinessCheck } from "../services/readiness.ts";
import { httpStatusOf } from "./errors.ts";

export const HEALTH_PATH = "/health";
export const READY_PATH = "/ready";
export const METRICS_PATH = "/metrics";

/** The outcome code a /ready answer of 503 is logged with (not an error of the API: a probe's answer). */
export const NOT_READY_CODE = "NOT_READY";

/** Whether a path is one of the operations endpoints (their requests log at debug: probes come every few seconds). */
export function isOpsPath(pathname: string): boolean {
  return pathname === HEALTH_PATH || pathname === READY_PATH || pathname === METRICS_PATH;
}

function send(options: { response: http.ServerResponse; status: number; type: string; body: string; head: boolean }): void {
  const { response } = options;
  response.writeHead(options.status, { "content-type": options.type, "content-length": Buffer.byteLength(options.body), "cache-control": "no-store" });
  response.end(options.head ? undefined : options.body);
}

function sendJson(options: { response: http.ServerResponse; status: number; body: unknown; head: boolean }): void {
  send({ ...options, type: "application/json; charset=utf-8", body: JSON.stringify(options.body) });
}

/** Refuses with a code and its sentence, in the shape of the API's errors. */
function sendRefusal(options: { response: http.ServerResponse; code: ErrorCode; message: string; head: boolean }): void {
  const { code, message } = options;
  sendJson({ response: options.response, status: httpStatusOf(code), body: { errors: [{ message, extensions: { code } }] }, head: options.head });
}

/**
 * Answers a GET or HEAD of an operations path (the request log takes its outcome from the status).
 * `isAdmin`: on the main port /metrics needs an admin credential (an admin API key or VCM_ADMIN_TOKEN;
 * open where mutations are, on loopback before any key or token exists); null: the metrics port, where it is open.
 */
export async function answerOpsRequest(options: {
  request: http.IncomingMessage;
  response: http.ServerResponse;
  pathname: string;
  readiness: ReadinessCheck;
  isAdmin: ((authorization: string | undefined) => Promise<boolean>) | null;
  /** The request's log trail on the main port, where a refusal's code is recorded. */
  trail?: { code: string | undefined };
}): Promise<void> {
  const { request, response, pathname } = options;
  const head = (request.method ?? "GET").toUpperCase() === "HEAD";
  if (pathname === HEALTH_PATH) {
    sendJson({ response, status: 200, body: { status: "ok" }, head });
    return;
  }
  if (pathname === READY_PATH) {
    const readiness = await options.readiness.check();
    if (readiness.ready) sendJson({ response, status: 200, body: { status: "ready" }, head });
    else {
      if (options.trail !== undefined) options.trail.code = NOT_READY_CODE;
      sendJson({ response, status: 503, body: { status: "not ready", reason: readiness.reason }, head });
    }
    return;
  }
  if (options.isAdmin !== null && !(await options.isAdmin(request.headers.authorization))) {
    const message = `${METRICS_PATH} needs an "Authorization: Bearer <key>" header with an admin API key or this server's VCM_ADMIN_TOKEN, or read it on the loopback port that --metrics-port opens.`;
    if (options.trail !== undefined) options.trail.code = ErrorCode.UNAUTHENTICATED;
    sendRefusal({ response, code: ErrorCode.UNAUTHENTICATED, message, head });
    return;
  }
  let text: string;
  try {
    text = await metricsText();
  } catch (error) {
    // A cluster worker whose primary could not gather the workers' metrics says so; anything else is a bug.
    if (!(error instanceof UserError)) throw error;
    if (options.trail !== undefined) options.trail.code = error.code;
    sendRefusal({ response, code: error.code, message: error.message, head });
    return;
  }
  send({ response, status: 200, type: METRICS_CONTENT_TYPE, body: text, head });
}

/** The loopback listener of `--metrics-port`: /metrics without a credential, and /health and /ready. */
export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (0 = any free one) for the operations endpoints only. */
export async function listenForMetrics(options: { port: number; readiness: ReadinessCheck; onError: (error: unknown) => void }): Promise<MetricsListener> {
  const listener = http.createServer((request, response) => {
    const pathname = new URL(request.url ?? "/", "http://localhost").pathname;
    const method = (request.method ?? "GET").toUpperCase();
    if (!isOpsPath(pathname) || (method !== "GET" && method !== "HEAD")) {
      sendJson({ response, status: 404, body: { errors: [{ message: `Only GET ${METRICS_PATH}, ${READY_PATH} and ${HEALTH_PATH} are served on this port.`, extensions: { code: ErrorCode.NOT_FOUND } }] }, head: false });
      return;
    }
    answerOpsRequest({ request, response, pathname, readiness: options.readiness, isAdmin: null }).catch((error: unknown) => {
      options.onError(error);
      if (!response.headersSent) sendJson({ response, status: 500, body: { errors: [{ message: "The metrics could not be read; see the server's log.", extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } }] }, head: false });
      else response.end();
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(options.port, "127.0.0.1", () => {
        listener.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new UserError(ErrorCode.CONFLICT, `Port ${options.port} on 127.0.0.1 is in use; pass another --metrics-port.`);
    }
    throw error;
  }
  return {
    port: (listener.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      listener.closeAllConnections();
      await closed;
    },
  };
}
