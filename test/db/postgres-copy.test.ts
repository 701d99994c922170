/**
 * COPY on a real PostgreSQL server when something fails mid-stream (issue 23, item 2): rows that
 * cannot be made fail the statement and leave the connection usable; a connection terminated while
 * rows are still being made fails the write with the server's error, and nothing is left unhandled
 * (before the fix the process died of an unhandled rejection, then of an unhandled 'error' event).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyEncoded, copyLine, copyRows } from "../../src/db/postgres-copy.ts";
import { isDatabaseUnavailableError } from "../../src/errors.ts";
import { POSTGRES_BINDIR, startPrivatePostgres, type PrivatePostgres } from "./private-postgres.ts";

if (!POSTGRES_BINDIR) console.warn("COPY failure tests skipped: PostgreSQL's server binaries are not installed (apt-get install -y postgresql)");

describe.skipIf(!POSTGRES_BINDIR)("COPY when the rows or the connection fail mid-stream", () => {
  let database: PrivatePostgres;
  let pool: pg.Pool;

  beforeAll(async () => {
    database = startPrivatePostgres();
    pool = new pg.Pool({ connectionString: database.url, max: 3 });
    pool.on("error", () => undefined);
    await pool.query("CREATE TABLE copied (n integer, text text)");
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    database?.destroy();
  });

  it("fails the statement with the rows' own error, writes nothing and keeps the connection usable", async () => {
    const client = await pool.connect();
    try {
      function* rows(): Generator<[number, string]> {
        for (let n = 0; n < 50_000; n++) {
          if (n === 40_000) throw new Error("the spool could not be read");
          yield [n, `row ${n}`];
        }
      }
      await expect(copyRows(client, { table: "copied", columns: ["n", "text"], rows: rows() })).rejects.toThrow("the spool could not be read");
      expect((await client.query<{ n: number }>("SELECT count(*)::int AS n FROM copied")).rows).toEqual([{ n: 0 }]);
    } finally {
      client.release();
    }
  });

  it("fails with the server's error when the connection is terminated while rows are still being made", async () => {
    const client = await pool.connect();
    client.on("error", () => undefined);
    const { pid } = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0];
    async function* chunks(): AsyncGenerator<string> {
      yield copyLine([1, "first"]);
      // The next rows take a while to make (a spool read): meanwhile the server ends the connection.
      await pool.query("SELECT pg_terminate_backend($1)", [pid]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      yield copyLine([2, "second"]);
    }
    const failure = await copyEncoded(client, { table: "copied", columns: ["n", "text"], chunks: chunks() }).then(
      () => null,
      (error: unknown) => error,
    );
    client.release(true);
    expect((failure as { code?: string }).code).toBe("57P01");
    expect(isDatabaseUnavailableError(failure)).toBe(true);
    // Reports of the lost connection that come later go nowhere.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM copied")).rows).toEqual([{ n: 0 }]);
  });
});
