/**
 * One structured JSON line per HTTP request on stdout (issue 26, item 6), through pino: the request id
 * (also sent back in the x-request-id header and in every error's extensions), method, path, status,
 * GraphQL operation name, outcome code and milliseconds; a subscription's start and end, with its key's
 * name. Never a header, a key, a query's variables or text, nor anything a user wrote: those are not
 * passed in, so no level can print them.
 */
import { randomUUID } from "node:crypto";
import { destination, pino, stdTimeFunctions, type Logger } from "pino";
import type { LogLevel } from "../config.ts";

/** The response header (and error extension `requestId`) that carries a request's id. */
export const REQUEST_ID_HEADER = "x-request-id";

/** What one request's log line says; the GraphQL plugin fills in the operation and the outcome. */
export interface RequestTrail {
  readonly id: string;
  readonly method: string;
  /** The URL's path only: a query string may carry a query's text. */
  readonly path: string;
  readonly started: number;
  operation: string | undefined;
  code: string | undefined;
}

/** The server's request log. */
export interface RequestLog {
  /** A trail for a request that arrived now, with a fresh id. */
  start(options: { method: string; path: string }): RequestTrail;
  /** Writes the trail's line: at debug for probes (`quiet`), at info otherwise. */
  finish(options: { trail: RequestTrail; status: number; code: string; quiet: boolean }): void;
  /**
   * Writes a subscription's line over WebSocket: `subscribe` once it started (code OK) or was refused (its
   * code), `complete` when it ended, with its milliseconds; `id` pairs the two lines.
   */
  subscription(options: { id: string; event: "subscribe" | "complete"; operation: string | undefined; keyName: string | undefined; code: string; ms?: number }): void;
}

/** A request log at `level` on stdout (or appended to `file`: the API benchmark writes to /dev/null). */
export function createRequestLog(options: { level: LogLevel; file?: string }): RequestLog {
  const logger: Logger = pino(
    { level: options.level, base: undefined, messageKey: "message", timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    options.file === undefined ? undefined : destination({ dest: options.file, sync: true, append: true }),
  );
  return {
    start: ({ method, path }) => ({ id: randomUUID(), method, path, started: performance.now(), operation: undefined, code: undefined }),
    finish({ trail, status, code, quiet }) {
      const line = {
        requestId: trail.id,
        method: trail.method,
        path: trail.path,
        status,
        operation: trail.operation ?? null,
        code,
        ms: Math.round((performance.now() - trail.started) * 10) / 10,
      };
      if (quiet) logger.debug(line, "request");
      else logger.info(line, "request");
    },
    subscription({ id, event, operation, keyName, code, ms }) {
      logger.info({ requestId: id, event, operation: operation ?? null, key: keyName ?? null, code, ...(ms === undefined ? {} : { ms: Math.round(ms * 10) / 10 }) }, "subscription");
    },
  };
}

/** A log that writes nothing (servers built in-process by tests). */
export const SILENT_REQUEST_LOG: RequestLog = createRequestLog({ level: "silent" });
