/**
 * An ingest's SQL on PostgreSQL (dataset-store.ts's DatasetStaging). One connection is held for the
 * whole ingest: review texts are COPYed into a temporary table on it while the file is read, and the
 * final write is one transaction on it — users and items are COPYed in, their new ids read back, then
 * clicks and word counts COPYed with those ids, and the reviews joined to their staged texts — so a
 * killed process (or a lost connection) leaves the old dataset or the complete new one.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { DataSource } from "typeorm";
import type { RawReview } from "../data/corpus.ts";
import { SPLIT_NAMES } from "../data/preprocess.ts";
import { datasetNameTaken } from "./dataset-conflict.ts";
import { DATASET_COLUMNS, datasetRowValues, type DatasetStaging, type DatasetWrite, type RemovedDataset } from "./dataset-staging.ts";
import { type BinaryCopyValue, copyBinaryRows, copyRows, type CopyValue } from "./postgres-copy.ts";
import { clientOf } from "./sql.ts";

/** PostgreSQL's unique_violation: another ingest committed the same name first. */
const UNIQUE_VIOLATION = "23505";

export async function openPostgresDatasetStaging(dataSource: DataSource): Promise<DatasetStaging> {
  const runner = dataSource.createQueryRunner();
  const client = await clientOf(runner);
  const suffix = randomUUID().replaceAll("-", "");
  const t = { texts: `ingest_texts_${suffix}`, reviews: `ingest_reviews_${suffix}` };
  try {
    await client.query(
      `CREATE TEMP TABLE ${t.texts} (seq integer PRIMARY KEY, rating double precision, text text NOT NULL, summary text, time bigint);` +
        `CREATE TEMP TABLE ${t.reviews} (seq integer NOT NULL, user_id integer NOT NULL, item_id integer);`,
    );
  } catch (error) {
    await runner.release();
    throw error;
  }
  return {
    async stage(batch) {
      await copyRows(client, {
        table: t.texts,
        columns: ["seq", "rating", "text", "summary", "time"],
        rows: batch.map(([seq, r]: readonly [number, RawReview]) => [seq, r.rating, r.text, r.summary, r.time === null ? null : Math.round(r.time)]),
      });
    },
    async checkName(name, replace) {
      const existing = await client.query("SELECT id FROM datasets WHERE name = $1", [name]);
      if (existing.rowCount !== 0 && !replace) throw datasetNameTaken(name);
    },
    async write(o) {
      await runner.startTransaction();
      try {
        const removed = await deleteExisting(client, o);
        const datasetId = await writeDataset(client, { ...o, tables: t });
        await runner.commitTransaction();
        return { datasetId, removed };
      } catch (error) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        if ((error as { code?: string }).code === UNIQUE_VIOLATION && (error as { constraint?: string }).constraint?.startsWith("UQ_")) throw datasetNameTaken(o.name);
        throw error;
      }
    },
    async close() {
      // The pool hands this connection to others next: its temp tables go first.
      await client.query(`DROP TABLE IF EXISTS ${Object.values(t).join(", ")}`).catch(() => undefined);
      await runner.release();
    },
  };
}

/** Deletes the dataset of the same name (rows cascade), queueing its models' folders; null when there was none. */
async function deleteExisting(client: pg.PoolClient, o: DatasetWrite): Promise<RemovedDataset | null> {
  // FOR UPDATE: a second ingest of the same name waits here until this one commits, then sees the new row.
  const existing = await client.query<{ id: number }>("SELECT id FROM datasets WHERE name = $1 FOR UPDATE", [o.name]);
  if (existing.rowCount === 0) return null;
  if (!o.replace) throw datasetNameTaken(o.name);
  const id = existing.rows[0].id;
  const models = await client.query<{ path: string | null }>("SELECT checkpoint_path AS path FROM trained_models WHERE dataset_id = $1", [id]);
  await client.query("INSERT INTO pending_file_removals (path) SELECT checkpoint_path FROM trained_models WHERE dataset_id = $1 AND checkpoint_path IS NOT NULL", [id]);
  await client.query("DELETE FROM datasets WHERE id = $1", [id]);
  return { models: models.rowCount ?? 0 };
}

async function writeDataset(client: pg.PoolClient, o: DatasetWrite & { tables: { texts: string; reviews: string } }): Promise<number> {
  const { data, onStep, tables: t } = o;
  const rows = data.userNames.length;
  const values = datasetRowValues(o);
  const inserted = await client.query<{ id: number }>(
    `INSERT INTO datasets (${DATASET_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(", ")}) RETURNING id`,
    values,
  );
  const datasetId = inserted.rows[0].id;

  onStep(`writing ${data.itemNames.length} items`);
  await copyRows(client, {
    table: "items",
    columns: ["dataset_id", "external_id", "column_index", "click_count", "train_click_count"],
    rows: data.itemNames.map((externalId, col) => [datasetId, externalId, col, data.itemClickCounts[col], data.itemTrainClickCounts[col]]),
  });

  onStep(`writing ${rows} users with their clicks and word counts`);
  const { words } = data;
  await copyRows(client, {
    table: "users",
    columns: ["dataset_id", "external_id", "row_index", "train_click_count", "validation_click_count", "test_click_count", "review_count", "word_count"],
    rows: (function* (): Generator<CopyValue[]> {
      for (let r = 0; r < rows; r++) {
        const perSplit = [0, 0, 0];
        for (let k = data.clickIndptr[r]; k < data.clickIndptr[r + 1]; k++) perSplit[data.clickSplit[k]] += 1;
        let wordCount = 0;
        for (let k = words.indptr[r]; k < words.indptr[r + 1]; k++) wordCount += words.values[k];
        yield [datasetId, data.userNames[r], r, perSplit[0], perSplit[1], perSplit[2], data.userReviewCounts[r], wordCount];
      }
    })(),
  });
  // The new rows' ids by row and column, so clicks and word counts are COPYed with their keys.
  const userIds = await idsByPosition(client, { table: "users", position: "row_index", datasetId, count: rows });
  const itemIds = await idsByPosition(client, { table: "items", position: "column_index", datasetId, count: data.itemNames.length });
  await copyRows(client, {
    table: "clicks",
    columns: ["dataset_id", "user_id", "item_id", "split"],
    rows: (function* (): Generator<CopyValue[]> {
      for (let r = 0; r < rows; r++) {
        for (let k = data.clickIndptr[r]; k < data.clickIndptr[r + 1]; k++) yield [datasetId, userIds[r], itemIds[data.clickCols[k]], SPLIT_NAMES[data.clickSplit[k]]];
      }
    })(),
  });
  await copyBinaryRows(client, {
    table: "user_word_counts",
    columns: ["user_id", "dataset_id", "distinct_words", "indices", "counts"],
    rows: (function* (): Generator<BinaryCopyValue[]> {
      for (let r = 0; r < rows; r++) {
        const start = words.indptr[r];
        const end = words.indptr[r + 1];
        // The packed arrays are little-endian, as the SQLite path stores them (this machine's order).
        const bytes = (a: Int32Array | Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset + start * 4, (end - start) * 4);
        yield [userIds[r], datasetId, end - start, bytes(words.indices), bytes(words.values)];
      }
    })(),
  });

  onStep(`writing ${data.vocabulary.length} words`);
  await copyRows(client, {
    table: "words",
    columns: ["dataset_id", "word_index", "word", "count", "document_frequency"],
    rows: data.vocabulary.map((word, index) => [datasetId, index, word, data.vocabularyCounts[index], data.documentFrequency[index]]),
  });

  onStep(`writing ${data.counts.reviews} reviews`);
  await copyRows(client, {
    table: t.reviews,
    columns: ["seq", "user_id", "item_id"],
    rows: (function* (): Generator<CopyValue[]> {
      for (let s = 0; s < data.reviewRow.length; s++) {
        if (data.reviewRow[s] < 0) continue;
        yield [s, userIds[data.reviewRow[s]], data.reviewCol[s] < 0 ? null : itemIds[data.reviewCol[s]]];
      }
    })(),
  });
  // Temporary tables have no statistics until analysed; without them the join below is planned as
  // nested loops over a table thought empty (minutes instead of seconds).
  await client.query(`ANALYZE ${t.reviews}, ${t.texts}`);
  await client.query(
    `INSERT INTO reviews (dataset_id, user_id, item_id, rating, text, summary, time)
     SELECT $1, m.user_id, m.item_id, s.rating, s.text, s.summary, s.time FROM ${t.reviews} m
     JOIN ${t.texts} s ON s.seq = m.seq
     ORDER BY m.seq`,
    [datasetId],
  );
  return datasetId;
}

/** The ids of one dataset's new users (or items) by their matrix position. */
async function idsByPosition(client: pg.PoolClient, o: { table: "users" | "items"; position: "row_index" | "column_index"; datasetId: number; count: number }): Promise<Int32Array> {
  const result = await client.query<[number, number]>({ text: `SELECT ${o.position}, id FROM ${o.table} WHERE dataset_id = $1`, values: [o.datasetId], rowMode: "array" });
  const ids = new Int32Array(o.count);
  for (const [position, id] of result.rows) ids[position] = id;
  return ids;
}
