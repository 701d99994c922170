/**
 * The connection an append runs on, inside its transaction, and the dataset's row it reads first.
 * SQLite: a connection of its own to the same file (BEGIN IMMEDIATE), so the process's other
 * statements never run inside the append. PostgreSQL: one pooled connection that locks the dataset's
 * row, so appends and a replacing ingest of the same dataset run one after the other.
 */
import BetterSqlite3 from "better-sqlite3";
import type { DataSource, QueryRunner } from "typeorm";
import { ErrorCode, UserError } from "../errors.ts";
import { dialectOfSource, sqliteOf } from "./data-source.ts";
import { sqliteSql, sqlOnRunner, type Sql } from "./sql.ts";

/** PostgreSQL's lock_not_available: lock_timeout passed while another append or ingest held the dataset. */
const LOCK_NOT_AVAILABLE = "55P03";


/** A dataset's row as an append reads it, with its next free matrix row (users) and column (items). */
export interface LockedDataset {
  readonly id: number;
  readonly name: string;
  readonly version: number;
  readonly options: string;
  readonly users: number;
  readonly items: number;
}

/** The dataset's row (PostgreSQL: locked until the append ends). */
async function readLockedDataset(sql: Sql, name: string): Promise<LockedDataset | undefined> {
  const read = async (): Promise<LockedDataset | undefined> =>
    sql.get<LockedDataset>(
      `SELECT d.id, d.name, d.version, d.options,
        (SELECT COALESCE(MAX(row_index) + 1, 0) FROM users WHERE dataset_id = d.id) AS users,
        (SELECT COALESCE(MAX(column_index) + 1, 0) FROM items WHERE dataset_id = d.id) AS items
       FROM datasets d WHERE d.name = ?${sql.dialect === "postgres" ? " FOR UPDATE OF d" : ""}`,
      [name],
    );
  // A replacing ingest that committed while this waited for the lock deleted the row it waited on:
  // the second read finds (and locks) the dataset that replaced it.
  return (await read()) ?? (sql.dialect === "postgres" ? read() : undefined);
}

/** The connection an append runs on, inside its transaction. */
export interface AppendConnection {
  readonly sql: Sql;
  /** Commits (true) or rolls back (false), then frees the connection. */
  end(commit: boolean): Promise<void>;
}

function openSqliteConnection(dataSource: DataSource): AppendConnection {
  const main = sqliteOf(dataSource);
  const file = main.name;
  // An in-memory database has no second connection: the append shares the process's (tests only).
  const db = main.memory ? main : new BetterSqlite3(file);
  const own = db !== main;
  if (own) {
    db.pragma(`busy_timeout = ${Number(main.pragma("busy_timeout", { simple: true }))}`);
    db.pragma("foreign_keys = ON");
    db.pragma("synchronous = NORMAL");
  }
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (error) {
    if (own) db.close();
    throw error;
  }
  return {
    sql: sqliteSql(db),
    async end(commit) {
      try {
        if (db.inTransaction) db.exec(commit ? "COMMIT" : "ROLLBACK");
      } finally {
        if (own) db.close();
      }
    },
  };
}

async function openPostgresConnection(dataSource: DataSource, lockWaitMs: number | undefined): Promise<AppendConnection> {
  const runner: QueryRunner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.startTransaction();
    if (lockWaitMs !== undefined) await runner.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockWaitMs))}`);
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    await runner.release();
    throw error;
  }
  return {
    sql: sqlOnRunner(runner),
    async end(commit) {
      try {
        if (runner.isTransactionActive) await (commit ? runner.commitTransaction() : runner.rollbackTransaction());
      } finally {
        await runner.release();
      }
    },
  };
}

/** DATABASE_BUSY for a lock wait that passed its bound; other errors as they are. */
function lockRefusal(error: unknown, dataset: string): unknown {
  if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) return error;
  return new UserError(ErrorCode.DATABASE_BUSY, `Another append or ingest of dataset "${dataset}" is running; nothing was changed, try again once it has finished.`);
}

/** Opens an append's connection, its transaction begun (PostgreSQL: lock waits bounded by `lockWaitMs`, unbounded without it). */
export async function openAppendConnection(dataSource: DataSource, lockWaitMs: number | undefined): Promise<AppendConnection> {
  return dialectOfSource(dataSource) === "sqlite" ? openSqliteConnection(dataSource) : openPostgresConnection(dataSource, lockWaitMs);
}

/** The dataset's row (PostgreSQL: locked until the append ends); a lock wait past its bound is DATABASE_BUSY with a sentence. */
export async function lockedDataset(sql: Sql, name: string): Promise<LockedDataset | undefined> {
  return readLockedDataset(sql, name).catch((error: unknown) => {
    throw lockRefusal(error, name);
  });
}
