/**
 * An ingest's SQL on PostgreSQL (dataset-store.ts's DatasetStaging). While the file is read, review
 * texts go to a local spool file in COPY's format (text-spool.ts). The final write runs on two
 * connections at once, as PostgreSQL does one statement per backend and the reviews are half of the
 * work:
 *
 * - the dataset's transaction removes a replaced dataset, inserts the new dataset row, COPYs its items
 *   and users, reads their new ids back, then COPYs the clicks, word counts and words;
 * - as soon as those ids exist, a second transaction COPYs the reviews, streamed from the spool with
 *   their user and item ids, and commits just before the dataset's transaction does.
 *
 * A killed process (or a lost connection) leaves the old dataset or the complete new one: reviews of a
 * dataset that never committed belong to nothing and are removed later (unfinished-review-writes.ts).
 */
import type pg from "pg";
import type { DataSource, QueryRunner } from "typeorm";
import { SPLIT_NAMES } from "../dataset-shapes.ts";
import { datasetNameTaken } from "./dataset-conflict.ts";
import { DATASET_DELETION } from "./dataset-deletion.ts";
import { DATASET_COLUMNS, datasetRowValues, type DatasetStaging, type DatasetWrite, type RemovedDataset } from "./dataset-staging.ts";
import { type BinaryCopyValue, copyBinaryRows, copyEncoded, copyLine, copyRows, type CopyValue } from "./postgres-copy.ts";
import { clientOf, numberedPlaceholders } from "./sql.ts";
import { openTextSpool, type TextSpool } from "./text-spool.ts";
import { announceReviewWrite, finishReviewWrite, holdReviewWriteLock, removeUnfinishedReviewWrites } from "./unfinished-review-writes.ts";

/** PostgreSQL's unique_violation: another ingest committed the same name first. */
const UNIQUE_VIOLATION = "23505";

export async function openPostgresDatasetStaging(dataSource: DataSource): Promise<DatasetStaging> {
  const spool = await openTextSpool();
  return {
    async stage(batch) {
      let lines = "";
      for (const [seq, r] of batch) lines += copyLine([seq, r.rating, r.text, r.summary, r.time === null ? null : Math.round(r.time)]);
      await spool.append(lines);
    },
    async checkName(name, replace) {
      const existing = (await dataSource.query("SELECT id FROM datasets WHERE name = $1", [name])) as unknown[];
      if (existing.length !== 0 && !replace) throw datasetNameTaken(name);
    },
    async write(o) {
      // Reviews left by an ingest that died between its two commits go first.
      await removeUnfinishedReviewWrites(dataSource);
      const main = dataSource.createQueryRunner();
      const side = dataSource.createQueryRunner();
      try {
        return await writeOnTwoConnections({ main, side, spool, write: o });
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION && (error as { constraint?: string }).constraint?.startsWith("UQ_")) throw datasetNameTaken(o.name);
        throw error;
      } finally {
        await side.release();
        await main.release();
      }
    },
    async close() {
      await spool.close();
    },
  };
}

async function writeOnTwoConnections(o: { main: QueryRunner; side: QueryRunner; spool: TextSpool; write: DatasetWrite }): Promise<{ datasetId: number; removed: RemovedDataset | null }> {
  const { main, side, write } = o;
  const mainClient = await clientOf(main);
  const sideClient = await clientOf(side);
  let datasetId: number | null = null;
  try {
    await main.startTransaction();
    const removed = await deleteExisting(mainClient, write);
    datasetId = await insertDatasetRow(mainClient, write);
    await holdReviewWriteLock(mainClient, datasetId);
    await announceReviewWrite(sideClient, datasetId);
    const ids = await writeItemsAndUsers(mainClient, write, datasetId);
    await side.startTransaction();
    // Both run to their end before either outcome is acted on: no statement may still be running on a
    // connection that is rolled back or handed back to the pool.
    const outcomes = await Promise.allSettled([writeReviews(sideClient, { ...write, datasetId, ids, spool: o.spool }), writeClicksAndWords(mainClient, write, datasetId, ids)]);
    for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
    await side.commitTransaction();
    await finishReviewWrite(mainClient, datasetId);
    await main.commitTransaction();
    return { datasetId, removed };
  } catch (error) {
    if (side.isTransactionActive) await side.rollbackTransaction().catch(() => undefined);
    if (main.isTransactionActive) await main.rollbackTransaction().catch(() => undefined);
    // This write's own announcement (and reviews, had they committed) can go now that its lock is released.
    if (datasetId !== null) await removeUnfinishedReviewWrites(main.connection).catch(() => undefined);
    throw error;
  }
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
  for (const statement of DATASET_DELETION) await client.query(numberedPlaceholders(statement), [id]);
  return { models: models.rowCount ?? 0 };
}

async function insertDatasetRow(client: pg.PoolClient, o: DatasetWrite): Promise<number> {
  const values = datasetRowValues(o);
  const inserted = await client.query<{ id: number }>(
    `INSERT INTO datasets (${DATASET_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(", ")}) RETURNING id`,
    values,
  );
  return inserted.rows[0].id;
}

/** New users' ids by matrix row and items' by column. */
interface NewIds {
  readonly users: Int32Array;
  readonly items: Int32Array;
}

async function writeItemsAndUsers(client: pg.PoolClient, o: DatasetWrite, datasetId: number): Promise<NewIds> {
  const { data, onStep } = o;
  const rows = data.userNames.length;
  onStep(`writing ${data.itemNames.length} items`);
  await copyRows(client, {
    table: "items",
    columns: ["dataset_id", "external_id", "column_index", "click_count", "train_click_count"],
    rows: data.itemNames.map((externalId, col) => [datasetId, externalId, col, data.itemClickCounts[col], data.itemTrainClickCounts[col]]),
  });
  onStep(`writing ${rows} users`);
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
  // The new rows' ids by row and column, so clicks, word counts and reviews are COPYed with their keys.
  return {
    users: await idsByPosition(client, { table: "users", position: "row_index", datasetId, count: rows }),
    items: await idsByPosition(client, { table: "items", position: "column_index", datasetId, count: data.itemNames.length }),
  };
}

async function writeClicksAndWords(client: pg.PoolClient, o: DatasetWrite, datasetId: number, ids: NewIds): Promise<void> {
  const { data, onStep } = o;
  const rows = data.userNames.length;
  onStep(`writing ${data.clickCols.length} clicks and ${rows} users' word counts`);
  await copyRows(client, {
    table: "clicks",
    columns: ["dataset_id", "user_id", "item_id", "split"],
    rows: (function* (): Generator<CopyValue[]> {
      for (let r = 0; r < rows; r++) {
        for (let k = data.clickIndptr[r]; k < data.clickIndptr[r + 1]; k++) yield [datasetId, ids.users[r], ids.items[data.clickCols[k]], SPLIT_NAMES[data.clickSplit[k]]];
      }
    })(),
  });
  const { words } = data;
  await copyBinaryRows(client, {
    table: "user_word_counts",
    columns: ["user_id", "dataset_id", "distinct_words", "indices", "counts"],
    rows: (function* (): Generator<BinaryCopyValue[]> {
      for (let r = 0; r < rows; r++) {
        const start = words.indptr[r];
        const end = words.indptr[r + 1];
        // The packed arrays are little-endian, as the SQLite path stores them (this machine's order).
        const bytes = (a: Int32Array | Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset + start * 4, (end - start) * 4);
        yield [ids.users[r], datasetId, end - start, bytes(words.indices), bytes(words.values)];
      }
    })(),
  });
  onStep(`writing ${data.vocabulary.length} words`);
  await copyRows(client, {
    table: "words",
    columns: ["dataset_id", "word_index", "word", "count", "document_frequency"],
    rows: data.vocabulary.map((word, index) => [datasetId, index, word, data.vocabularyCounts[index], data.documentFrequency[index]]),
  });
}

/** The kept reviews, in reading order, from the spool's lines (`seq \t rating \t text \t summary \t time`) with their new ids in front. */
async function writeReviews(client: pg.PoolClient, o: DatasetWrite & { datasetId: number; ids: NewIds; spool: TextSpool }): Promise<void> {
  const { data, ids } = o;
  o.onStep(`writing ${data.counts.reviews} reviews (on a second connection)`);
  const prefix = `${o.datasetId}\t`;
  async function* lines(): AsyncGenerator<string> {
    for await (const block of o.spool.blocks()) {
      let out = "";
      for (let at = 0; at < block.length; ) {
        const tab = block.indexOf("\t", at);
        const end = block.indexOf("\n", tab) + 1;
        const seq = Number(block.slice(at, tab));
        const row = data.reviewRow[seq];
        if (row >= 0) {
          const col = data.reviewCol[seq];
          out += `${prefix}${ids.users[row]}\t${col < 0 ? "\\N" : ids.items[col]}${block.slice(tab, end)}`;
        }
        at = end;
      }
      if (out !== "") yield out;
    }
  }
  await copyEncoded(client, { table: "reviews", columns: ["dataset_id", "user_id", "item_id", "rating", "text", "summary", "time"], chunks: lines() });
}

/** The ids of one dataset's new users (or items) by their matrix position. */
async function idsByPosition(client: pg.PoolClient, o: { table: "users" | "items"; position: "row_index" | "column_index"; datasetId: number; count: number }): Promise<Int32Array> {
  const result = await client.query<[number, number]>({ text: `SELECT ${o.position}, id FROM ${o.table} WHERE dataset_id = $1`, values: [o.datasetId], rowMode: "array" });
  const ids = new Int32Array(o.count);
  for (const [position, id] of result.rows) ids[position] = id;
  return ids;
}
