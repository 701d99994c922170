/**
 * Writes that must not be lost when the database is briefly out of reach: another process holds
 * SQLite's write lock longer than the connection's busy_timeout (an ingest of a large file, a shell
 * holding BEGIN IMMEDIATE), or the PostgreSQL server is restarting. They are tried again, with capped
 * exponential back-off, until the database answers or a deadline passes.
 */
import type { DataSource } from "typeorm";
import { DATABASE_BUSY_MESSAGE, DATABASE_UNAVAILABLE_MESSAGE, ErrorCode, isBusyError, isDatabaseUnavailableError, UserError } from "../errors.ts";
import { dialectOfSource, sqliteOf } from "./data-source.ts";

/** How long a training job's writes (and other background writes) wait for a lock or a restarting server. */
export const DATABASE_WAIT_MS = 10 * 60_000;

/** The longest pause between two tries, so a database that returns is noticed within a couple of seconds. */
const MAX_PAUSE_MS = 2_000;

/** True for the failures that pass by themselves: a foreign write lock, a server that is down or restarting. */
export function isTransientDatabaseError(error: unknown): boolean {
  return isBusyError(error) || isDatabaseUnavailableError(error);
}

/**
 * Runs `write`, and again after a pause while it fails with SQLITE_BUSY or because the database server
 * is unavailable, for at most `maxMs` in all (DATABASE_WAIT_MS by default); the pause starts at
 * `pauseMs` and doubles up to 2 s. Any other error, or the last transient one, is thrown.
 */
export async function retryWhileBusyOrUnavailable<T>(write: () => Promise<T>, options: { maxMs?: number; pauseMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.maxMs ?? DATABASE_WAIT_MS);
  let pause = options.pauseMs ?? 250;
  for (;;) {
    try {
      return await write();
    } catch (error) {
      if (!isTransientDatabaseError(error) || Date.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(MAX_PAUSE_MS, pause * 2);
    }
  }
}

/**
 * A write retried like retryWhileBusyOrUnavailable that, once its bound has passed, is refused with a
 * code and a sentence (DATABASE_BUSY or DATABASE_UNAVAILABLE) instead of the driver's error. Requests
 * give it a few seconds (without blocking the event loop, which busy_timeout would); training jobs
 * DATABASE_WAIT_MS, and say what they were doing in `doing` ("publishing model 7").
 */
export async function writeOrRefuseWhenBusy<T>(write: () => Promise<T>, options: { maxMs?: number; doing?: string } = {}): Promise<T> {
  const maxMs = options.maxMs ?? 5_000;
  try {
    return await retryWhileBusyOrUnavailable(write, { maxMs, pauseMs: 100 });
  } catch (error) {
    const waited = maxMs >= 60_000 ? `${Math.round(maxMs / 60_000)} minutes` : `${Math.round(maxMs / 1000)} s`;
    if (isBusyError(error)) {
      throw new UserError(
        ErrorCode.DATABASE_BUSY,
        options.doing === undefined ? DATABASE_BUSY_MESSAGE : `Another process held the database's write lock for over ${waited} while ${options.doing}; train again once it is free.`,
      );
    }
    if (isDatabaseUnavailableError(error)) {
      throw new UserError(
        ErrorCode.DATABASE_UNAVAILABLE,
        options.doing === undefined ? DATABASE_UNAVAILABLE_MESSAGE : `The database was unavailable for over ${waited} while ${options.doing}; train again once it is back.`,
      );
    }
    throw error;
  }
}

/**
 * Sets how long one statement of this connection waits for another process's lock, blocking its
 * thread meanwhile: long for the CLI and training workers, short for a server (its writes retry
 * asynchronously instead, so cheap queries keep answering). PostgreSQL's lock waits never block the
 * thread, so there it does nothing.
 */
export function setBusyTimeout(dataSource: DataSource, ms: number): void {
  if (dialectOfSource(dataSource) !== "sqlite") return;
  sqliteOf(dataSource).pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
}
