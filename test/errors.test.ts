/**
 * isDatabaseUnavailableError on the errors node-postgres and TypeORM threw at a loop of readiness probes
 * (SELECT 1, then showMigrations) while a private PostgreSQL 15 restarted (pg_ctl restart -m fast and
 * -m immediate, stop and start, SIGKILL), each built the way the driver builds it; and on errors that do
 * not mean the server is away.
 */
import pg from "pg";
import { QueryFailedError, QueryRunnerAlreadyReleasedError } from "typeorm";
import { describe, expect, it } from "vitest";
import { ErrorCode, isDatabaseUnavailableError, UserError } from "../src/errors.ts";

/** A server's ErrorResponse as pg-protocol's parser builds it. */
function serverError(message: string, code: string, routine: string): pg.DatabaseError {
  return Object.assign(new pg.DatabaseError(message, message.length + 60, "error"), { severity: "FATAL", code, routine });
}

/** A socket error as Node's net module builds it. */
function socketError(message: string, fields: { code: string; errno: number; syscall: string }): Error {
  return Object.assign(new Error(message), fields);
}

const administratorCommand = serverError("terminating connection due to administrator command", "57P01", "ProcessInterrupts");
const lost = new Error("Connection terminated unexpectedly");
const reset = socketError("read ECONNRESET", { code: "ECONNRESET", errno: -104, syscall: "read" });

describe("isDatabaseUnavailableError", () => {
  it.each([
    ["a backend told to end by a fast shutdown", administratorCommand],
    ["the same, as TypeORM wraps it", new QueryFailedError("SELECT 1", [], administratorCommand)],
    ["a backend ended by the postmaster's death", serverError("terminating connection due to unexpected postmaster exit", "57P01", "secure_read")],
    ["a connection opened while the server shuts down", serverError("the database system is shutting down", "57P03", "ProcessStartupPacket")],
    ["a connection opened while the server starts", serverError("the database system is starting up", "57P03", "ProcessStartupPacket")],
    ["a connection opened before it accepts connections", serverError("the database system is not yet accepting connections", "57P03", "ProcessStartupPacket")],
    ["a socket closed under a query", lost],
    ["the same, as TypeORM wraps it", new QueryFailedError("SELECT 1", [], lost)],
    ["a socket reset", reset],
    ["the same, as TypeORM wraps it", new QueryFailedError("SELECT 1", [], reset)],
    ["a reset on write", socketError("write ECONNRESET", { code: "ECONNRESET", errno: -104, syscall: "write" })],
    ["a refused connection", socketError("connect ECONNREFUSED 127.0.0.1:5432", { code: "ECONNREFUSED", errno: -111, syscall: "connect" })],
    // TypeORM released the query runner when its connection's FATAL came with the reply to showMigrations' first statement.
    ["a query runner TypeORM released after its connection failed", new QueryRunnerAlreadyReleasedError()],
  ])("is true for %s", (_, error) => {
    expect(isDatabaseUnavailableError(error)).toBe(true);
  });

  it.each([
    ["a missing table", new QueryFailedError("SELECT * FROM nope", [], Object.assign(new pg.DatabaseError('relation "nope" does not exist', 90, "error"), { severity: "ERROR", code: "42P01" }))],
    ["a unique violation", Object.assign(new pg.DatabaseError('duplicate key value violates unique constraint "datasets_name"', 120, "error"), { severity: "ERROR", code: "23505" })],
    ["better-sqlite3's closed connection", new TypeError("The database connection is not open")],
    ["a user error", new UserError(ErrorCode.NOT_FOUND, "No dataset is named x.")],
  ])("is false for %s", (_, error) => {
    expect(isDatabaseUnavailableError(error)).toBe(false);
  });
});
