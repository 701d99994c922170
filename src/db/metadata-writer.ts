/**
 * Metadata (item titles, categories, attributes; user names) attached to an existing dataset: records
 * are staged in a temporary table as they are read (last one wins for a repeated id), then applied in
 * one write transaction, so a file that fails half-way changes nothing and readers never see half of it.
 * Rows the dataset does not have are counted, never created.
 */
import { randomUUID } from "node:crypto";
import type { DataSource, QueryRunner } from "typeorm";
import { dialectOfSource, sqliteOf } from "./data-source.ts";
import { sqlOf, sqlOnRunner, type Sql, type SqlValue } from "./sql.ts";

/** One record to attach; `title` is a user's name for users. */
export interface MetadataRecord {
  readonly externalId: string;
  readonly title: string | null;
  readonly categories?: ReadonlyArray<string>;
  readonly attributes?: Readonly<Record<string, unknown>>;
}

/** What applying the staged records did. */
export interface MetadataApplied {
  /** Distinct ids read (a repeated id counts once: its last record is the one kept). */
  readonly records: number;
  /** Rows of the dataset that got the metadata. */
  readonly updated: number;
  /** Ids the dataset does not have (filtered out by preprocessing, or never in the reviews). */
  readonly unknown: number;
}

/** Records per staging transaction (SQLite) or multi-row insert (PostgreSQL). */
const STAGE_BATCH = 2_000;

/**
 * Stages records for the items (or users) of one dataset; apply() writes them, drop() forgets them.
 * The staging table is a temporary one, on SQLite's single connection or on a PostgreSQL connection
 * this writer holds, so a killed process leaves nothing behind.
 */
export class MetadataWriter {
  readonly #dataSource: DataSource;
  readonly #runner: QueryRunner | undefined;
  readonly #sql: Sql;
  readonly #table: string;
  readonly #kind: "items" | "users";
  #pending: MetadataRecord[] = [];
  /** Batches written so far, in order (PostgreSQL writes them while the file is still read). */
  #flushed: Promise<void> = Promise.resolve();

  private constructor(o: { dataSource: DataSource; runner: QueryRunner | undefined; sql: Sql; kind: "items" | "users"; table: string }) {
    this.#dataSource = o.dataSource;
    this.#runner = o.runner;
    this.#sql = o.sql;
    this.#kind = o.kind;
    this.#table = o.table;
  }

  static async open(dataSource: DataSource, kind: "items" | "users"): Promise<MetadataWriter> {
    const table = `metadata_stage_${randomUUID().replaceAll("-", "")}`;
    const ddl = `CREATE TEMP TABLE ${table} (external_id TEXT PRIMARY KEY, title TEXT, categories TEXT, attributes TEXT)`;
    if (dialectOfSource(dataSource) === "sqlite") {
      const sql = sqlOf(dataSource);
      await sql.run(ddl);
      return new MetadataWriter({ dataSource, runner: undefined, sql, kind, table });
    }
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query(ddl);
    } catch (error) {
      await runner.release();
      throw error;
    }
    return new MetadataWriter({ dataSource, runner, sql: sqlOnRunner(runner), kind, table });
  }

  add(record: MetadataRecord): void {
    this.#pending.push(record);
    if (this.#pending.length >= STAGE_BATCH) this.#flush();
  }

  /** Writes every staged record onto the dataset's rows in one transaction. */
  async apply(datasetId: number): Promise<MetadataApplied> {
    this.#flush();
    await this.#flushed;
    const t = this.#table;
    const kind = this.#kind;
    const write = async (sql: Sql): Promise<MetadataApplied> => {
      const records = (await sql.rows<[number]>(`SELECT COUNT(*) FROM ${t}`))[0][0];
      const matched = (await sql.rows<[number]>(`SELECT COUNT(*) FROM ${t} s JOIN "${kind}" r ON r.dataset_id = ? AND r.external_id = s.external_id`, [datasetId]))[0][0];
      if (kind === "items") {
        await sql.run(
          `UPDATE "items" SET "title" = s.title, "categories" = s.categories, "attributes" = s.attributes FROM ${t} s ` +
            `WHERE "items".dataset_id = ? AND "items".external_id = s.external_id`,
          [datasetId],
        );
      } else {
        await sql.run(`UPDATE "users" SET "name" = s.title FROM ${t} s WHERE "users".dataset_id = ? AND "users".external_id = s.external_id`, [datasetId]);
      }
      return { records, updated: matched, unknown: records - matched };
    };
    if (this.#runner === undefined) {
      const db = sqliteOf(this.#dataSource);
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = await write(this.#sql);
        db.exec("COMMIT");
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw error;
      }
    }
    await this.#runner.startTransaction();
    try {
      const result = await write(this.#sql);
      await this.#runner.commitTransaction();
      return result;
    } catch (error) {
      if (this.#runner.isTransactionActive) await this.#runner.rollbackTransaction();
      throw error;
    }
  }

  /** Forgets the staged records (call once, whatever happened). */
  async drop(): Promise<void> {
    await this.#flushed.catch(() => undefined);
    if (this.#runner !== undefined) {
      // Releasing the connection would keep the temp table for the pool's next user: drop it first.
      await this.#runner.query(`DROP TABLE IF EXISTS ${this.#table}`).catch(() => undefined);
      await this.#runner.release();
      return;
    }
    const db = sqliteOf(this.#dataSource);
    if (db.inTransaction) return;
    db.exec(`DROP TABLE IF EXISTS temp.${this.#table}`);
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    const rows = batch.map((r): [string, string | null, string | null, string | null] => [
      r.externalId,
      r.title,
      r.categories === undefined ? null : JSON.stringify(r.categories),
      r.attributes !== undefined && Object.keys(r.attributes).length > 0 ? JSON.stringify(r.attributes) : null,
    ]);
    if (this.#runner === undefined) {
      const db = sqliteOf(this.#dataSource);
      const insert = db.prepare(`INSERT OR REPLACE INTO temp.${this.#table} (external_id, title, categories, attributes) VALUES (?, ?, ?, ?)`);
      db.transaction(() => {
        for (const row of rows) insert.run(...row);
      })();
      return;
    }
    // One statement per batch; within it the last record of a repeated id wins, as across batches.
    const last = new Map(rows.map((row) => [row[0], row]));
    const columns = [0, 1, 2, 3].map((c) => [...last.values()].map((row) => row[c]));
    const sql = this.#sql;
    this.#flushed = this.#flushed.then(async () => {
      await sql.run(
        `INSERT INTO ${this.#table} (external_id, title, categories, attributes) SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) ` +
          `ON CONFLICT (external_id) DO UPDATE SET title = EXCLUDED.title, categories = EXCLUDED.categories, attributes = EXCLUDED.attributes`,
        columns as unknown as SqlValue[],
      );
    });
  }
}
