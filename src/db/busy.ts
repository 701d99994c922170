/**
 * Writes that must not be lost when another process holds SQLite's write lock longer than the
 * connection's busy_timeout (an ingest of a large file, a shell holding BEGIN IMMEDIATE): they are
 * tried again until the lock is released or a deadline passes.
 */

/** True for SQLite's "database is locked" (SQLITE_BUSY) in any of its extended forms. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : "";
  return (typeof code === "string" && code.startsWith("SQLITE_BUSY")) || /database is locked/i.test(message);
}

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
