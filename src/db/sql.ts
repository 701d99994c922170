/**
 * Raw statements on either database, for the reads and writes where TypeORM's repositories are too
 * slow or cannot say it: one `?` placeholder style (turned into $1, $2… on PostgreSQL), rows as objects
 * or as arrays. SQLite runs them on better-sqlite3 directly (synchronously, as fast as before);
 * PostgreSQL through the data source's pool or, inside a transaction, its query runner.
 */
import type BetterSqlite3 from "better-sqlite3";
import type pg from "pg";
import type { DataSource, EntityManager, QueryRunner } from "typeorm";
import { dialectOfSource, sqliteOf, type Dialect } from "./data-source.ts";

export type SqlValue = string | number | bigint | boolean | null | Buffer | Date | ReadonlyArray<string | number | null>;

export interface Sql {
  readonly dialect: Dialect;
  /** Every row, as an object per row. */
  all<T>(query: string, params?: ReadonlyArray<SqlValue>): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(query: string, params?: ReadonlyArray<SqlValue>): Promise<T | undefined>;
  /** Every row, as an array of its columns in select order (no per-row objects for bulk reads). */
  rows<T extends unknown[]>(query: string, params?: ReadonlyArray<SqlValue>): Promise<T[]>;
  /** A statement without rows; `changes` is how many rows it wrote. */
  run(query: string, params?: ReadonlyArray<SqlValue>): Promise<{ changes: number }>;
}

/** Statements on the data source (outside any transaction it runs). */
export function sqlOf(dataSource: DataSource): Sql {
  return dialectOfSource(dataSource) === "sqlite" ? sqliteSql(sqliteOf(dataSource)) : postgresSql({ pool: poolOf(dataSource) });
}

/** Statements inside a TypeORM transaction (`dataSource.transaction(async (manager) => …)`), on its connection. */
export function sqlIn(manager: EntityManager): Sql {
  if (!manager.queryRunner) throw new Error("Invariant failed: sqlIn needs a transaction's entity manager");
  return sqlOnRunner(manager.queryRunner);
}

/** Statements on one connection a query runner holds (PostgreSQL: temp tables, transactions, COPY). */
export function sqlOnRunner(runner: QueryRunner): Sql {
  if (dialectOfSource(runner.connection) === "sqlite") return sqliteSql(sqliteOf(runner.connection));
  return postgresSql({ runner });
}

/** `?` placeholders, outside quoted strings and identifiers, as PostgreSQL's $1, $2, … */
export function numberedPlaceholders(query: string): string {
  let n = 0;
  let out = "";
  let quote: string | null = null;
  for (const ch of query) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === "?") {
      n += 1;
      out += `$${n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Prepared statements kept per connection, by text and row mode: a served request runs the same few
 * queries each time, and preparing one costs more than running it. Cleared when full (texts with
 * IN-lists of every length would otherwise pile up); SQLite prepares a kept statement again by itself
 * after a schema change.
 */
const STATEMENTS_KEPT = 256;
const kept = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

function statementOf(db: BetterSqlite3.Database, query: string, raw: boolean): BetterSqlite3.Statement {
  let statements = kept.get(db);
  if (statements === undefined) {
    statements = new Map();
    kept.set(db, statements);
  }
  const key = raw ? `r${query}` : `o${query}`;
  let statement = statements.get(key);
  if (statement === undefined) {
    if (statements.size >= STATEMENTS_KEPT) statements.clear();
    statement = db.prepare(query);
    // Only statements that return rows take a row mode.
    if (raw) statement.raw(true);
    statements.set(key, statement);
  }
  return statement;
}

/** Statements on one better-sqlite3 connection (a connection of its own that a long write opens). */
export function sqliteSql(db: BetterSqlite3.Database): Sql {
  const bind = (params: ReadonlyArray<SqlValue>): unknown[] => params.map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p instanceof Date ? p.toISOString() : p));
  return {
    dialect: "sqlite",
    all: async <T>(query: string, params: ReadonlyArray<SqlValue> = []) => statementOf(db, query, false).all(...bind(params)) as T[],
    get: async <T>(query: string, params: ReadonlyArray<SqlValue> = []) => statementOf(db, query, false).get(...bind(params)) as T | undefined,
    rows: async <T extends unknown[]>(query: string, params: ReadonlyArray<SqlValue> = []) => statementOf(db, query, true).all(...bind(params)) as T[],
    run: async (query: string, params: ReadonlyArray<SqlValue> = []) => ({ changes: statementOf(db, query, false).run(...bind(params)).changes }),
  };
}

/** The pg Pool behind a PostgreSQL data source. */
export function poolOf(dataSource: DataSource): pg.Pool {
  return (dataSource.driver as unknown as { master: pg.Pool }).master;
}

/** The pg client a connected query runner holds (for COPY and LISTEN). */
export async function clientOf(runner: QueryRunner): Promise<pg.PoolClient> {
  return (await runner.connect()) as pg.PoolClient;
}

function postgresSql(on: { pool: pg.Pool } | { runner: QueryRunner }): Sql {
  const exec = async (config: pg.QueryConfig & { rowMode?: "array" }): Promise<pg.QueryResult> => {
    if ("pool" in on) return on.pool.query(config);
    return (await clientOf(on.runner)).query(config);
  };
  const values = (params: ReadonlyArray<SqlValue>): unknown[] => params.map((p) => (typeof p === "bigint" ? p.toString() : p));
  return {
    dialect: "postgres",
    all: async <T>(query: string, params: ReadonlyArray<SqlValue> = []) => (await exec({ text: numberedPlaceholders(query), values: values(params) })).rows as T[],
    get: async <T>(query: string, params: ReadonlyArray<SqlValue> = []) => (await exec({ text: numberedPlaceholders(query), values: values(params) })).rows[0] as T | undefined,
    rows: async <T extends unknown[]>(query: string, params: ReadonlyArray<SqlValue> = []) =>
      (await exec({ text: numberedPlaceholders(query), values: values(params), rowMode: "array" })).rows as T[],
    run: async (query: string, params: ReadonlyArray<SqlValue> = []) => ({ changes: (await exec({ text: numberedPlaceholders(query), values: values(params) })).rowCount ?? 0 }),
  };
}
