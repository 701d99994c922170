/**
 * The database the storage, ingest, training-job and API suites run on: a SQLite file in the
 * "sqlite" vitest project, a fresh PostgreSQL database per fixture in the "postgres" project
 * (vitest.config.ts runs it only when VCM_TEST_POSTGRES_URL names a server: `.ci/run` starts one,
 * `bash scripts/ci/postgres.sh start DIR` starts one here; without it the project is skipped with a message).
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { DataSource } from "typeorm";
import { vi } from "vitest";
import { dialectOfSource, sqliteOf } from "../../src/db/data-source.ts";

export const POSTGRES_URL = process.env.VCM_TEST_POSTGRES_URL ?? "";

/** The dialect of this vitest project. */
export const TEST_DIALECT: "sqlite" | "postgres" = process.env.VCM_TEST_DIALECT === "postgres" ? "postgres" : "sqlite";

/** A database for one test: `target` is what --db / VCM_DB take; drop() removes it. */
export interface TestDatabase {
  readonly dialect: "sqlite" | "postgres";
  readonly target: string;
  drop(): Promise<void>;
}

/** A new, empty database of this project's dialect (or of the one asked for). */
export async function createTestDatabase(dialect: "sqlite" | "postgres" = TEST_DIALECT): Promise<TestDatabase> {
  if (dialect === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-db-"));
    return { dialect, target: path.join(dir, "vcm.sqlite"), drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  if (!POSTGRES_URL) throw new Error("the postgres test project needs VCM_TEST_POSTGRES_URL");
  const name = `vcm_t_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return { dialect, target: url.toString(), drop: async () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Counts the SQL statements a data source executes from now on (SQLite: executions of prepared
 * statements, which are cached, so prepare() alone would miss repeats; PostgreSQL: queries sent by any
 * pg client). `restore()` removes the spies.
 */
export function countStatements(dataSource: DataSource): { count(): number; restore(): void } {
  const spies =
    dialectOfSource(dataSource) === "sqlite"
      ? (["all", "get", "run", "iterate"] as const).map((method) => vi.spyOn(Object.getPrototypeOf(sqliteOf(dataSource).prepare("SELECT 1")), method))
      : [vi.spyOn(pg.Client.prototype, "query")];
  return {
    count: () => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0),
    restore: () => spies.forEach((spy) => spy.mockRestore()),
  };
}
