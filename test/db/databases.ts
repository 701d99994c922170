/**
 * The databases a storage test runs on: a SQLite file always, and a fresh PostgreSQL database when
 * VCM_TEST_POSTGRES_URL names a server (`.ci/run` starts one; scripts/ci/postgres.sh starts one here).
 * Without it the PostgreSQL cases are skipped with a message, so `npm test` passes on a laptop.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export const POSTGRES_URL = process.env.VCM_TEST_POSTGRES_URL ?? "";

export const SKIP_POSTGRES_MESSAGE = "PostgreSQL tests skipped: set VCM_TEST_POSTGRES_URL (bash scripts/ci/postgres.sh start DIR prints one)";

/** A database for one test: `target` is what --db / VCM_DB take; drop() removes it. */
export interface TestDatabase {
  readonly dialect: "sqlite" | "postgres";
  readonly target: string;
  drop(): Promise<void>;
}

export interface DatabaseKind {
  readonly dialect: "sqlite" | "postgres";
  /** False where PostgreSQL is not configured: describe.skipIf(!kind.available). */
  readonly available: boolean;
  create(): Promise<TestDatabase>;
}

const sqliteKind: DatabaseKind = {
  dialect: "sqlite",
  available: true,
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-db-"));
    return { dialect: "sqlite", target: path.join(dir, "vcm.sqlite"), drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  },
};

const postgresKind: DatabaseKind = {
  dialect: "postgres",
  available: POSTGRES_URL !== "",
  async create() {
    if (!POSTGRES_URL) throw new Error(SKIP_POSTGRES_MESSAGE);
    const name = `vcm_t_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    await admin(`CREATE DATABASE ${name}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    return {
      dialect: "postgres",
      target: url.toString(),
      drop: async () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  },
};

/** Both kinds, PostgreSQL's marked unavailable (and a message printed once) when it is not configured. */
export function databaseKinds(): ReadonlyArray<DatabaseKind> {
  if (!postgresKind.available) console.warn(SKIP_POSTGRES_MESSAGE);
  return [sqliteKind, postgresKind];
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
