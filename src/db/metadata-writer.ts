/**
 * Metadata (item titles, categories, attributes; user names) attached to an existing dataset: records
 * are staged in a temporary table as they are read (last one wins for a repeated id), then applied in
 * one write transaction, so a file that fails half-way changes nothing and readers never see half of it.
 * Rows the dataset does not have are counted, never created.
 */
import { randomUUID } from "node:crypto";
import type { DataSource } from "typeorm";
import { sqliteOf } from "./data-source.ts";

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

/** Records per staging transaction. */
const STAGE_BATCH = 2_000;

/** Stages records for the items (or users) of one dataset; apply() writes them, drop() forgets them. */
export class MetadataWriter {
  readonly #db: ReturnType<typeof sqliteOf>;
  readonly #table: string;
  readonly #kind: "items" | "users";
  #pending: MetadataRecord[] = [];

  constructor(dataSource: DataSource, kind: "items" | "users") {
    this.#db = sqliteOf(dataSource);
    this.#kind = kind;
    this.#table = `metadata_stage_${randomUUID().replaceAll("-", "")}`;
    this.#db.exec(`CREATE TEMP TABLE ${this.#table} (external_id TEXT PRIMARY KEY, title TEXT, categories TEXT, attributes TEXT)`);
  }

  add(record: MetadataRecord): void {
    this.#pending.push(record);
    if (this.#pending.length >= STAGE_BATCH) this.#flush();
  }

  /** Writes every staged record onto the dataset's rows in one transaction. */
  apply(datasetId: number): MetadataApplied {
    this.#flush();
    const db = this.#db;
    const t = this.#table;
    const write = db.transaction((): MetadataApplied => {
      const records = db.prepare(`SELECT COUNT(*) FROM temp.${t}`).pluck().get() as number;
      const matched = db.prepare(`SELECT COUNT(*) FROM temp.${t} s JOIN "${this.#kind}" r ON r.dataset_id = ? AND r.external_id = s.external_id`).pluck().get(datasetId) as number;
      if (this.#kind === "items") {
        db.prepare(
          `UPDATE "items" SET "title" = s.title, "categories" = s.categories, "attributes" = s.attributes FROM temp.${t} s ` +
            `WHERE "items".dataset_id = ? AND "items".external_id = s.external_id`,
        ).run(datasetId);
      } else {
        db.prepare(`UPDATE "users" SET "name" = s.title FROM temp.${t} s WHERE "users".dataset_id = ? AND "users".external_id = s.external_id`).run(datasetId);
      }
      return { records, updated: matched, unknown: records - matched };
    });
    return write.immediate();
  }

  /** Forgets the staged records (call once, whatever happened). */
  drop(): void {
    if (this.#db.inTransaction) return;
    this.#db.exec(`DROP TABLE IF EXISTS temp.${this.#table}`);
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const insert = this.#db.prepare(`INSERT OR REPLACE INTO temp.${this.#table} (external_id, title, categories, attributes) VALUES (?, ?, ?, ?)`);
    const batch = this.#pending;
    this.#pending = [];
    this.#db.transaction(() => {
      for (const r of batch) {
        const attributes = r.attributes !== undefined && Object.keys(r.attributes).length > 0 ? JSON.stringify(r.attributes) : null;
        insert.run(r.externalId, r.title, r.categories === undefined ? null : JSON.stringify(r.categories), attributes);
      }
    })();
  }
}
