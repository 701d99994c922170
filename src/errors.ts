/** Error codes shared by the CLI and the GraphQL API (the API puts them in `extensions.code`). */
export enum ErrorCode {
  NOT_FOUND = "NOT_FOUND",
  BAD_USER_INPUT = "BAD_USER_INPUT",
  MODEL_NOT_READY = "MODEL_NOT_READY",
  CONFLICT = "CONFLICT",
  UNAUTHENTICATED = "UNAUTHENTICATED",
  /** Another process holds the database's write lock (an ingest, usually) for longer than a request waits. */
  DATABASE_BUSY = "DATABASE_BUSY",
  /** Too many large queries are running or waiting; the client should try again shortly. */
  SERVER_BUSY = "SERVER_BUSY",
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

/** What a request that could not write behind another process's lock is told. */
export const DATABASE_BUSY_MESSAGE =
  "The database is busy with a long write by another process (an ingest, probably); nothing was changed, try again in a minute.";

/** True for SQLite's "database is locked" (SQLITE_BUSY) in any of its extended forms. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : "";
  return (typeof code === "string" && code.startsWith("SQLITE_BUSY")) || /database is locked/i.test(message);
}

/** Throws an internal error when a condition that the code guarantees does not hold. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Invariant failed: ${message}`);
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${String(value)}`);
}
