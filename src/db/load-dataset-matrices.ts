import type { DataSource } from "typeorm";
import type { CsrMatrix, DatasetMatrices } from "../dataset-shapes.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { sqlOf, type Sql } from "./sql.ts";

/** The row of a dataset found by name or id. */
export interface DatasetRef {
  readonly id: number;
  readonly name: string;
  readonly userCount: number;
  readonly itemCount: number;
  readonly vocabularySize: number;
  /** 1 after the ingest, one more per append that added something. */
  readonly version: number;
}

/** Finds a dataset by id (number) or name (string); a NOT_FOUND UserError names what is ingested. */
export async function findDatasetRef(dataSource: DataSource, nameOrId: string | number): Promise<DatasetRef> {
  const sql = sqlOf(dataSource);
  const columns = `id, name, user_count AS "userCount", item_count AS "itemCount", vocabulary_size AS "vocabularySize", version`;
  const row =
    typeof nameOrId === "number"
      ? await sql.get<DatasetRef>(`SELECT ${columns} FROM datasets WHERE id = ?`, [nameOrId])
      : await sql.get<DatasetRef>(`SELECT ${columns} FROM datasets WHERE name = ?`, [nameOrId]);
  if (row === undefined) {
    const names = (await sql.rows<[string]>("SELECT name FROM datasets ORDER BY name")).map(([n]) => n);
    const known = names.length === 0 ? "none is ingested yet (run `vcm ingest` or `vcm generate`)" : `known: ${names.join(", ")}`;
    throw new UserError(ErrorCode.NOT_FOUND, `There is no dataset ${JSON.stringify(nameOrId)}; ${known}.`);
  }
  return row;
}

/**
 * Loads one dataset as the engine reads it: train / validation / test click matrices, the bag of
 * words and the id maps, with raw statements and packed word-count blobs (no per-entry ORM objects).
 */
export async function loadDatasetMatrices(dataSource: DataSource, nameOrId: string | number): Promise<DatasetMatrices> {
  // An append commits its rows and its version bump together: matrices read between two reads of the
  // same version are that version's, so a read that an append overtook is read again.
  for (let attempt = 1; ; attempt++) {
    const ref = await findDatasetRef(dataSource, nameOrId);
    const matrices = await loadMatricesOf(dataSource, ref);
    const after = await sqlOf(dataSource).get<{ version: number }>("SELECT version FROM datasets WHERE id = ?", [ref.id]);
    if (after?.version === ref.version || attempt === MAX_LOAD_ATTEMPTS) return matrices;
  }
}

/** Reads of a dataset's matrices that appends kept overtaking before the last one is returned as it is. */
const MAX_LOAD_ATTEMPTS = 5;

async function loadMatricesOf(dataSource: DataSource, ref: DatasetRef): Promise<DatasetMatrices> {
  const sql = sqlOf(dataSource);
  const column = async (query: string): Promise<string[]> => (await sql.rows<[string]>(query, [ref.id])).map(([v]) => v);
  const userIds = await column("SELECT external_id FROM users WHERE dataset_id = ? ORDER BY row_index");
  const itemIds = await column("SELECT external_id FROM items WHERE dataset_id = ? ORDER BY column_index");
  const vocabulary = await column("SELECT word FROM words WHERE dataset_id = ? ORDER BY word_index");
  const [train, validation, test] = await loadClicks({ sql, datasetId: ref.id, rows: userIds.length, cols: itemIds.length });
  const words = await loadWords({ sql, datasetId: ref.id, rows: userIds.length, cols: vocabulary.length });
  return { datasetId: ref.id, name: ref.name, version: ref.version, train, validation, test, words, userIds, itemIds, vocabulary };
}

const SPLIT_CODE: Readonly<Record<string, number>> = { train: 0, validation: 1, test: 2 };

async function loadClicks(options: { sql: Sql; datasetId: number; rows: number; cols: number }): Promise<CsrMatrix[]> {
  const { sql, datasetId, rows, cols } = options;
  const triples = await sql.rows<[number, number, string]>(
    `SELECT u.row_index, i.column_index, c.split FROM clicks c
     JOIN users u ON u.id = c.user_id JOIN items i ON i.id = c.item_id WHERE c.dataset_id = ?`,
    [datasetId],
  );
  const counts = [new Int32Array(rows + 1), new Int32Array(rows + 1), new Int32Array(rows + 1)];
  const splitOf = new Uint8Array(triples.length);
  triples.forEach(([row, , split], k) => {
    const code = SPLIT_CODE[split];
    splitOf[k] = code;
    counts[code][row + 1] += 1;
  });
  return counts.map((indptr, code) => {
    for (let r = 0; r < rows; r++) indptr[r + 1] += indptr[r];
    const indices = new Int32Array(indptr[rows]);
    const fill = indptr.slice(0, rows);
    triples.forEach(([row, col], k) => {
      if (splitOf[k] === code) indices[fill[row]++] = col;
    });
    for (let r = 0; r < rows; r++) indices.subarray(indptr[r], indptr[r + 1]).sort();
    return { rows, cols, indptr, indices, values: new Float32Array(indices.length).fill(1) };
  });
}

async function loadWords(options: { sql: Sql; datasetId: number; rows: number; cols: number }): Promise<CsrMatrix> {
  const { sql, datasetId, rows, cols } = options;
  const blobs = await sql.rows<[number, Buffer, Buffer]>(
    `SELECT u.row_index, w.indices, w.counts FROM user_word_counts w JOIN users u ON u.id = w.user_id
     WHERE w.dataset_id = ? ORDER BY u.row_index`,
    [datasetId],
  );
  const indptr = new Int32Array(rows + 1);
  for (const [row, indexBlob] of blobs) indptr[row + 1] = indexBlob.length / 4;
  for (let r = 0; r < rows; r++) indptr[r + 1] += indptr[r];
  const indices = new Int32Array(indptr[rows]);
  const values = new Float32Array(indptr[rows]);
  // Byte copies into the typed arrays: blob buffers need not be 4-byte aligned.
  const indexBytes = new Uint8Array(indices.buffer);
  const valueBytes = new Uint8Array(values.buffer);
  for (const [row, indexBlob, countBlob] of blobs) {
    indexBytes.set(indexBlob, indptr[row] * 4);
    valueBytes.set(countBlob, indptr[row] * 4);
  }
  return { rows, cols, indptr, indices, values };
}
