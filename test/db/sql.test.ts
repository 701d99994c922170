/**
 * Raw statements on SQLite (src/db/sql.ts) keep their prepared statements per connection: the same text
 * answers as objects and as arrays without one mode leaking into the other, a kept statement sees a
 * column added after it was prepared, and a full cache starts over without losing an answer.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sqliteSql } from "../../src/db/sql.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function database(): Database.Database {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-sql-"));
  dirs.push(dir);
  const db = new Database(path.join(dir, "t.sqlite"));
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)");
  return db;
}

describe("raw statements on SQLite", () => {
  it("answers one text as objects and as arrays in turn, each in its own mode", async () => {
    const db = database();
    const sql = sqliteSql(db);
    await sql.run("INSERT INTO t (id, name) VALUES (?, ?), (?, ?)", [1, "a", 2, "b"]);
    const query = "SELECT id, name FROM t ORDER BY id";
    expect(await sql.all(query)).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b" },
    ]);
    expect(await sql.rows(query)).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    expect(await sql.get(query)).toEqual({ id: 1, name: "a" });
    expect(await sql.rows(query)).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    db.close();
  });

  it("sees a column added after the statement was first run, and keeps answering past the cache's size", async () => {
    const db = database();
    const sql = sqliteSql(db);
    await sql.run("INSERT INTO t (id, name) VALUES (?, ?)", [1, "a"]);
    expect(await sql.get("SELECT * FROM t")).toEqual({ id: 1, name: "a" });
    db.exec("ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 7");
    expect(await sql.get("SELECT * FROM t")).toEqual({ id: 1, name: "a", extra: 7 });
    // 300 distinct texts (more than are kept), then the first again.
    for (let n = 0; n < 300; n += 1) expect(await sql.get<{ v: number }>(`SELECT ${n} AS v`)).toEqual({ v: n });
    expect(await sql.get("SELECT * FROM t")).toEqual({ id: 1, name: "a", extra: 7 });
    db.close();
  });

  it("keeps statements apart per connection", async () => {
    const one = database();
    const two = database();
    await sqliteSql(one).run("INSERT INTO t (id, name) VALUES (1, 'one')");
    await sqliteSql(two).run("INSERT INTO t (id, name) VALUES (1, 'two')");
    expect(await sqliteSql(one).get("SELECT name FROM t")).toEqual({ name: "one" });
    expect(await sqliteSql(two).get("SELECT name FROM t")).toEqual({ name: "two" });
    one.close();
    two.close();
  });
});
