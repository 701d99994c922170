/**
 * What an append changed in a dataset, read without reloading it whole: an append only adds (users
 * and items at the next indices, training clicks, words to bags), and it keeps each user's counters
 * (train_click_count, word_count) in step, so the users whose counters moved are exactly the users
 * whose training clicks or bag of words changed. The services layer compares the counters with the
 * matrices it holds and reads the rows of those users alone.
 */
import type { DataSource } from "typeorm";
import { sqlOf } from "./sql.ts";

/** Rows per statement when reading the rows of many users (well under either database's parameter limit). */
const ROWS_PER_STATEMENT = 500;

/** A dataset's users as the users table counts them now, by row. */
export interface UserCounters {
  /** Training clicks of each row. */
  readonly trainClicks: Int32Array;
  /** Tokens in each row's bag of words (the sum of its counts). */
  readonly words: Float64Array;
  /** External id of each row. */
  readonly externalIds: ReadonlyArray<string>;
}

/** The dataset's version (datasets.version), or undefined when it is gone. */
export async function datasetVersionOf(dataSource: DataSource, datasetId: number): Promise<number | undefined> {
  const row = await sqlOf(dataSource).get<{ version: number }>("SELECT version FROM datasets WHERE id = ?", [datasetId]);
  return row === undefined ? undefined : Number(row.version);
}

/** Every user's counters, by row (one scan of the dataset's users). */
export async function userCounters(dataSource: DataSource, datasetId: number): Promise<UserCounters> {
  const rows = await sqlOf(dataSource).rows<[number, number, number, string]>(
    "SELECT row_index, train_click_count, word_count, external_id FROM users WHERE dataset_id = ? ORDER BY row_index",
    [datasetId],
  );
  const trainClicks = new Int32Array(rows.length);
  const words = new Float64Array(rows.length);
  const externalIds: string[] = new Array(rows.length);
  for (const [row, clicks, count, id] of rows) {
    trainClicks[row] = Number(clicks);
    words[row] = Number(count);
    externalIds[row] = id;
  }
  return { trainClicks, words, externalIds };
}

/** External ids of the items from column `from` on, in column order (the items an append added). */
export async function itemIdsFrom(dataSource: DataSource, o: { datasetId: number; from: number }): Promise<string[]> {
  const rows = await sqlOf(dataSource).rows<[string]>("SELECT external_id FROM items WHERE dataset_id = ? AND column_index >= ? ORDER BY column_index", [o.datasetId, o.from]);
  return rows.map(([id]) => id);
}

/** Some users' training clicks (item columns, ascending) and bags of words, by row. */
export async function userRowsOf(
  dataSource: DataSource,
  o: { datasetId: number; rows: ReadonlyArray<number> },
): Promise<{ train: Map<number, number[]>; words: Map<number, { indices: Int32Array; values: Float32Array }> }> {
  const sql = sqlOf(dataSource);
  const train = new Map<number, number[]>();
  const words = new Map<number, { indices: Int32Array; values: Float32Array }>();
  for (let start = 0; start < o.rows.length; start += ROWS_PER_STATEMENT) {
    const chunk = o.rows.slice(start, start + ROWS_PER_STATEMENT);
    const marks = chunk.map(() => "?").join(", ");
    for (const row of chunk) train.set(row, []);
    const clicks = await sql.rows<[number, number]>(
      `SELECT u.row_index, i.column_index FROM users u JOIN clicks c ON c.user_id = u.id JOIN items i ON i.id = c.item_id
       WHERE u.dataset_id = ? AND u.row_index IN (${marks}) AND c.split = 'train'`,
      [o.datasetId, ...chunk],
    );
    for (const [row, column] of clicks) train.get(Number(row))!.push(Number(column));
    const bags = await sql.rows<[number, Buffer, Buffer]>(
      `SELECT u.row_index, w.indices, w.counts FROM users u JOIN user_word_counts w ON w.user_id = u.id WHERE u.dataset_id = ? AND u.row_index IN (${marks})`,
      [o.datasetId, ...chunk],
    );
    for (const [row, indexBlob, countBlob] of bags) {
      // Byte copies: blob buffers need not be 4-byte aligned.
      const indices = new Int32Array(indexBlob.length / 4);
      const values = new Float32Array(countBlob.length / 4);
      new Uint8Array(indices.buffer).set(indexBlob);
      new Uint8Array(values.buffer).set(countBlob);
      words.set(Number(row), { indices, values });
    }
  }
  for (const columns of train.values()) columns.sort((a, b) => a - b);
  return { train, words };
}
