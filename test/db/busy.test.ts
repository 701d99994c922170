/**
 * retryWhileBusyOrUnavailable against a real SQLite file whose write lock a second connection holds longer than the
 * writer's busy_timeout: the write waits it out instead of failing (the server's job progress writes).
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { retryWhileBusyOrUnavailable, writeOrRefuseWhenBusy } from "../../src/db/busy.ts";
import { ErrorCode, isBusyError, UserError } from "../../src/errors.ts";

let dir: string;
let writer: Database.Database;
let holder: Database.Database;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-busy-"));
  const file = path.join(dir, "db.sqlite");
  writer = new Database(file);
  writer.pragma("journal_mode = WAL");
  writer.exec("CREATE TABLE t (v INTEGER)");
  writer.pragma("busy_timeout = 50");
  holder = new Database(file);
});

afterEach(() => {
  writer.close();
  holder.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("retryWhileBusyOrUnavailable", () => {
  it("waits out a write lock held past busy_timeout, where a plain write fails", async () => {
    holder.exec("BEGIN IMMEDIATE");
    const write = async (): Promise<void> => void writer.prepare("INSERT INTO t VALUES (1)").run();
    let plain: unknown;
    await write().catch((error: unknown) => (plain = error));
    expect(isBusyError(plain)).toBe(true);
    setTimeout(() => holder.exec("COMMIT"), 600);
    const started = Date.now();
    await retryWhileBusyOrUnavailable(write, { pauseMs: 20 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(writer.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 1 });
  });

  it("gives up at its deadline with the busy error, and passes any other error at once", async () => {
    holder.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    await expect(retryWhileBusyOrUnavailable(async () => void writer.prepare("INSERT INTO t VALUES (2)").run(), { maxMs: 300, pauseMs: 20 })).rejects.toThrow(/database is locked/);
    expect(Date.now() - started).toBeLessThan(2_000);
    holder.exec("ROLLBACK");
    let calls = 0;
    await expect(
      retryWhileBusyOrUnavailable(async () => {
        calls += 1;
        writer.prepare("INSERT INTO missing VALUES (1)").run();
      }),
    ).rejects.toThrow(/no such table/);
    expect(calls).toBe(1);
  });

  it("retries a write while the database server is unavailable, with growing pauses, and names the fault after its bound", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    const tries: number[] = [];
    const value = await retryWhileBusyOrUnavailable(
      async () => {
        tries.push(Date.now());
        if (tries.length < 4) throw refused;
        return "written";
      },
      { pauseMs: 20 },
    );
    expect(value).toBe("written");
    expect(tries).toHaveLength(4);
    // 20, 40, 80 ms: each pause twice the one before.
    expect(tries[3] - tries[2]).toBeGreaterThan(tries[1] - tries[0]);
    const unavailable = await writeOrRefuseWhenBusy(async () => Promise.reject(refused), { maxMs: 1_000, doing: "publishing model 7" }).catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(UserError);
    expect(unavailable).toMatchObject({ code: ErrorCode.DATABASE_UNAVAILABLE, message: "The database was unavailable for over 1 s while publishing model 7; train again once it is back." });
  });
});
