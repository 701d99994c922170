/** Error codes shared by the CLI and the GraphQL API (the API puts them in `extensions.code`). */
export enum ErrorCode {
  NOT_FOUND = "NOT_FOUND",
  BAD_USER_INPUT = "BAD_USER_INPUT",
  MODEL_NOT_READY = "MODEL_NOT_READY",
  CONFLICT = "CONFLICT",
  UNAUTHENTICATED = "UNAUTHENTICATED",
  /** The caller is known but its role may not do this (an analyst key on a mutation). */
  FORBIDDEN = "FORBIDDEN",
  /** A server started with --persisted-only got an unregistered operation from a caller that is not an admin. */
  PERSISTED_QUERY_ONLY = "PERSISTED_QUERY_ONLY",
  /** The caller used up its requests or query cost for this minute; Retry-After says when to come back. */
  RATE_LIMITED = "RATE_LIMITED",
  /** Another process holds the database's write lock (an ingest, usually) for longer than a request waits. */
  DATABASE_BUSY = "DATABASE_BUSY",
  /** The database server cannot be reached (restarting, stopped, out of connections); nothing was changed. */
  DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE",
  /** A disk the server writes to (models folder, export folder, database) is full. */
  STORAGE_FULL = "STORAGE_FULL",
  /** Too many large queries are running or waiting, or a cluster's workers' metrics were not gathered in time; the client should try again shortly. */
  SERVER_BUSY = "SERVER_BUSY",
  /** A WebSocket asked for more subscriptions at once than the server allows. */
  TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS",
  /** A background job's work failed after its retries (a shard of a sharded export); the sentence says why and that nothing was written. */
  JOB_FAILED = "JOB_FAILED",
  INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR",
}

/**
 * An error whose message is a sentence a person can act on. Anything else that is thrown is a bug:
 * the CLI prints it as an internal error and the API masks it.
 */
export class UserError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "UserError";
    this.code = code;
  }
}

/** Where errors no answer shows are reported: masked internal errors, a readiness probe's unknown database error (console by default; tests collect them). */
export interface ErrorLogger {
  error(message: string, error: unknown): void;
}

/** What a request that could not write behind another process's lock is told. */
export const DATABASE_BUSY_MESSAGE =
  "The database is busy with a long write by another process (an ingest, probably); nothing was changed, try again in a minute.";

/** True for SQLite's "database is locked" (SQLITE_BUSY) in any of its extended forms. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : "";
  return (typeof code === "string" && code.startsWith("SQLITE_BUSY")) || /database is locked/i.test(message);
}

/** What a request is told while the database server cannot be reached. */
export const DATABASE_UNAVAILABLE_MESSAGE =
  "The database is unavailable (restarting, stopped or out of connections); nothing was changed, retry in a moment.";

/** SQLSTATE classes and codes of PostgreSQL that mean "the server is going away or not there yet". */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(["57P01", "57P02", "57P03", "53300", "53400"]);
/** Socket errors of a connection to a database server that is down or restarting. */
const UNAVAILABLE_SOCKET_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
/**
 * Messages of node-postgres (pg, pg-pool) and TypeORM for a connection that was lost or could not be made.
 * TypeORM releases a query runner whose connection failed between two of its statements (the server's
 * FATAL came with the first one's reply), so the second one throws "Query runner already released".
 */
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection error|Client was closed and is not queryable|Query runner already released|Cannot use a pool after calling end|timeout exceeded when trying to connect|the database system is (shutting down|starting up|in recovery mode)|too many clients already|terminating connection due to administrator command/i;

/**
 * True when an error means the database server (PostgreSQL) cannot be reached right now: a refused or
 * reset socket, a server shutting down or starting, no connection slot free. TypeORM wraps driver
 * errors (`driverError`); both are looked at.
 */
export function isDatabaseUnavailableError(error: unknown): boolean {
  return causes(error).some((e) => {
    const code = (e as { code?: unknown }).code;
    return (
      (typeof code === "string" && (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith("08") || UNAVAILABLE_SOCKET_CODES.has(code))) ||
      (e instanceof Error && UNAVAILABLE_MESSAGES.test(e.message))
    );
  });
}

/** True for a write that failed because a disk or quota is full (ENOSPC, EDQUOT, SQLITE_FULL). */
export function isStorageFullError(error: unknown): boolean {
  return causes(error).some((e) => {
    const code = (e as { code?: unknown }).code;
    return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL" || code === "53100";
  });
}

/** An error and what it wraps (TypeORM's `driverError`, an `Error`'s `cause`), a few levels deep. */
function causes(error: unknown): object[] {
  const chain: object[] = [];
  for (let e: unknown = error; e !== null && typeof e === "object" && chain.length < 4; ) {
    chain.push(e);
    e = (e as { driverError?: unknown }).driverError ?? (e as { cause?: unknown }).cause;
  }
  return chain;
}

/**
 * The sentence for a full disk; `what` names the folder or file when the caller knows it, `needed`
 * the space the write needs ("about 2.3 MiB, 1.9 MiB free") when that is known.
 */
export function storageFullMessage(what?: string, needed?: string): string {
  const space = needed === undefined ? "" : ` (it needs ${needed})`;
  return `${what === undefined ? "A disk the server writes to" : what} is full${space}; free some space (or point it at a larger disk) and try again. Nothing partial was kept.`;
}

/**
 * A fault outside the program that a person can act on (a foreign lock, a database gone, a full disk)
 * as the UserError with its code and sentence; undefined for anything else. The API and the CLI both
 * answer with it instead of an internal error.
 */
export function faultAsUserError(error: unknown): UserError | undefined {
  if (isBusyError(error)) return new UserError(ErrorCode.DATABASE_BUSY, DATABASE_BUSY_MESSAGE);
  if (isDatabaseUnavailableError(error)) return new UserError(ErrorCode.DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE);
  if (isStorageFullError(error)) return new UserError(ErrorCode.STORAGE_FULL, storageFullMessage());
  return undefined;
}

/** Throws an internal error when a condition that the code guarantees does not hold. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Invariant failed: ${message}`);
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${String(value)}`);
}
