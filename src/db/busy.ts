/**
 * Writes that must not be lost when another process holds SQLite's write lock longer than the
 * connection's busy_timeout (an ingest of a large file, a shell holding BEGIN IMMEDIATE): they are
 * tried again until the lock is released or a deadline passes.
 */
import type { DataSource } from "typeorm";
import { DATABASE_BUSY_MESSAGE, ErrorCode, isBusyError, UserError } from "../errors.ts";
import { sqliteOf } from "./data-source.ts";


/**
 * Runs `write`, and again after a pause while it fails with SQLITE_BUSY, for at most `maxMs` in all;
 * any other error, or the last busy one, is thrown.
 */
export async function retryWhileBusy<T>(write: () => Promise<T>, options: { maxMs?: number; pauseMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.maxMs ?? 10 * 60_000);
  const pause = options.pauseMs ?? 250;
  for (;;) {
    try {
      return await write();
    } catch (error) {
      if (!isBusyError(error) || Date.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * A write on a request's path: retried like retryWhileBusy for a few seconds (without blocking the
 * event loop, which busy_timeout would), then refused with DATABASE_BUSY and a sentence.
 */
export async function writeOrRefuseWhenBusy<T>(write: () => Promise<T>, options: { maxMs?: number } = {}): Promise<T> {
  try {
    return await retryWhileBusy(write, { maxMs: options.maxMs ?? 5_000, pauseMs: 100 });
  } catch (error) {
    if (isBusyError(error)) throw new UserError(ErrorCode.DATABASE_BUSY, DATABASE_BUSY_MESSAGE);
    throw error;
  }
}

/**
 * Sets how long one statement of this connection waits for another process's lock, blocking its
 * thread meanwhile: long for the CLI and training workers, short for a server (its writes retry
 * asynchronously instead, so cheap queries keep answering).
 */
export function setBusyTimeout(dataSource: DataSource, ms: number): void {
  sqliteOf(dataSource).pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
}
