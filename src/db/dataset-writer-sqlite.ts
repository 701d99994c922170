/**
 * An ingest's SQL on SQLite (dataset-store.ts's DatasetStaging): temporary staging tables for review
 * texts, the name check, the removal of a replaced dataset (its model folders queued in the same
 * transaction), and the bulk write of a preprocessed dataset with raw prepared statements, all on
 * better-sqlite3 in one immediate transaction.
 */
import { randomUUID } from "node:crypto";
import type BetterSqlite3 from "better-sqlite3";
import type { DataSource } from "typeorm";
import { SPLIT_NAMES, type PreprocessedDataset, type StoredSource } from "../dataset-shapes.ts";
import { datasetNameTaken } from "./dataset-conflict.ts";
import { DATASET_DELETION } from "./dataset-deletion.ts";
import { sqliteOf } from "./data-source.ts";
import { DATASET_COLUMNS, datasetRowValues, type DatasetStaging, type RemovedDataset } from "./dataset-staging.ts";

export async function openSqliteDatasetStaging(dataSource: DataSource): Promise<DatasetStaging> {
  const db = sqliteOf(dataSource);
  const staging = createStagingTables(db);
  const stage = stageReviewText(db, staging);
  const flush = db.transaction((batch: ReadonlyArray<readonly [number, { rating: number | null; text: string; summary: string | null; time: number | null }]>) => {
    for (const [sequence, r] of batch) stage.run(sequence, r.rating, r.text, r.summary, r.time === null ? null : Math.round(r.time));
  });
  return {
    async stage(batch) {
      flush(batch);
    },
    async checkName(name, replace) {
      existingDatasetId(db, name, replace);
    },
    async write(o) {
      const write = db.transaction(() => {
        const removed = deleteExisting(db, o.name, o.replace);
        const datasetId = writeDataset({ db, ...o, staging });
        return { datasetId, removed };
      });
      return write.immediate();
    },
    async close() {
      dropStagingTables(db, staging);
    },
  };
}

/** A prepared statement that stages one review text (sequence, rating, text, summary, time). */
function stageReviewText(db: BetterSqlite3.Database, staging: StagingTables): BetterSqlite3.Statement {
  return db.prepare(`INSERT INTO temp.${staging.texts} (seq, rating, text, summary, time) VALUES (?, ?, ?, ?, ?)`);
}

/** The id of the dataset already named `name`, if any; CONFLICT when it exists and replacing was not asked for. */
function existingDatasetId(db: BetterSqlite3.Database, name: string, replace: boolean): number | undefined {
  const existing = db.prepare("SELECT id FROM datasets WHERE name = ?").get(name) as { id: number } | undefined;
  if (existing !== undefined && !replace) {
    throw datasetNameTaken(name);
  }
  return existing?.id;
}

/** Deletes the old dataset and its rows inside the write transaction; null when there was none. */
function deleteExisting(db: BetterSqlite3.Database, name: string, replace: boolean): RemovedDataset | null {
  const existingId = existingDatasetId(db, name, replace);
  if (existingId === undefined) return null;
  const models = db
    .prepare("SELECT checkpoint_path AS path FROM trained_models WHERE dataset_id = ?")
    .all(existingId) as Array<{ path: string | null }>;
  // Their folders are deleted after the commit; recorded here, a kill in between cannot leave them behind.
  const queue = db.prepare("INSERT INTO pending_file_removals (path) VALUES (?)");
  for (const m of models) if (m.path !== null) queue.run(m.path);
  for (const statement of DATASET_DELETION) db.prepare(statement).run(existingId);
  return { models: models.length };
}

/** Names of one ingest's temp tables: unique, so two ingests on one connection never share them. */
interface StagingTables {
  readonly texts: string;
  readonly reviewMap: string;
}

function createStagingTables(db: BetterSqlite3.Database): StagingTables {
  const suffix = randomUUID().replaceAll("-", "");
  const staging = { texts: `ingest_texts_${suffix}`, reviewMap: `ingest_review_map_${suffix}` };
  db.exec(
    `CREATE TEMP TABLE ${staging.texts} (seq INTEGER PRIMARY KEY, rating REAL, text TEXT NOT NULL, summary TEXT, time INTEGER);` +
      `CREATE TEMP TABLE ${staging.reviewMap} (seq INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, item_id INTEGER);`,
  );
  return staging;
}

function dropStagingTables(db: BetterSqlite3.Database, staging: StagingTables): void {
  if (db.inTransaction) return;
  db.exec(`DROP TABLE IF EXISTS temp.${staging.texts}; DROP TABLE IF EXISTS temp.${staging.reviewMap};`);
}

/** Writes one preprocessed dataset with raw prepared statements (TypeORM's save is far too slow for millions of rows). */
function writeDataset(options: {
  db: BetterSqlite3.Database;
  name: string;
  data: PreprocessedDataset;
  source: StoredSource;
  sparsity: number;
  skipped: Record<string, number>;
  options: Record<string, unknown>;
  staging: StagingTables;
  onStep: (message: string) => void;
}): number {
  const { db, data, onStep } = options;
  const rows = data.userNames.length;
  const values = datasetRowValues(options);
  const datasetId = Number(
    db.prepare(`INSERT INTO datasets (${DATASET_COLUMNS}) VALUES (${values.map(() => "?").join(", ")})`).run(...values).lastInsertRowid,
  );

  onStep(`writing ${data.itemNames.length} items`);
  const insertItem = db.prepare(
    "INSERT INTO items (dataset_id, external_id, column_index, click_count, train_click_count) VALUES (?, ?, ?, ?, ?)",
  );
  const itemIds = new Int32Array(data.itemNames.length);
  data.itemNames.forEach((externalId, col) => {
    itemIds[col] = Number(
      insertItem.run(datasetId, externalId, col, data.itemClickCounts[col], data.itemTrainClickCounts[col]).lastInsertRowid,
    );
  });

  onStep(`writing ${rows} users with their clicks and word counts`);
  const insertUser = db.prepare(
    `INSERT INTO users (dataset_id, external_id, row_index, train_click_count, validation_click_count, test_click_count,
       review_count, word_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertWords = db.prepare(
    "INSERT INTO user_word_counts (user_id, dataset_id, distinct_words, indices, counts) VALUES (?, ?, ?, ?, ?)",
  );
  const insertClick = db.prepare("INSERT INTO clicks (dataset_id, user_id, item_id, split) VALUES (?, ?, ?, ?)");
  const userIds = new Int32Array(rows);
  const { words } = data;
  for (let r = 0; r < rows; r++) {
    const perSplit = [0, 0, 0];
    for (let k = data.clickIndptr[r]; k < data.clickIndptr[r + 1]; k++) perSplit[data.clickSplit[k]] += 1;
    const start = words.indptr[r];
    const end = words.indptr[r + 1];
    let wordCount = 0;
    for (let k = start; k < end; k++) wordCount += words.values[k];
    const userId = Number(
      insertUser.run(datasetId, data.userNames[r], r, perSplit[0], perSplit[1], perSplit[2], data.userReviewCounts[r], wordCount)
        .lastInsertRowid,
    );
    userIds[r] = userId;
    insertWords.run(
      userId,
      datasetId,
      end - start,
      Buffer.from(words.indices.buffer, words.indices.byteOffset + start * 4, (end - start) * 4),
      Buffer.from(words.values.buffer, words.values.byteOffset + start * 4, (end - start) * 4),
    );
    for (let k = data.clickIndptr[r]; k < data.clickIndptr[r + 1]; k++) {
      insertClick.run(datasetId, userId, itemIds[data.clickCols[k]], SPLIT_NAMES[data.clickSplit[k]]);
    }
  }

  onStep(`writing ${data.vocabulary.length} words`);
  const insertWord = db.prepare(
    "INSERT INTO words (dataset_id, word_index, word, count, document_frequency) VALUES (?, ?, ?, ?, ?)",
  );
  data.vocabulary.forEach((word, index) => {
    insertWord.run(datasetId, index, word, data.vocabularyCounts[index], data.documentFrequency[index]);
  });

  onStep(`writing ${data.counts.reviews} reviews`);
  const mapReview = db.prepare(`INSERT INTO temp.${options.staging.reviewMap} (seq, user_id, item_id) VALUES (?, ?, ?)`);
  for (let s = 0; s < data.reviewRow.length; s++) {
    const row = data.reviewRow[s];
    if (row < 0) continue;
    const col = data.reviewCol[s];
    mapReview.run(s, userIds[row], col < 0 ? null : itemIds[col]);
  }
  db.prepare(
    `INSERT INTO reviews (dataset_id, user_id, item_id, rating, text, summary, time)
     SELECT ?, m.user_id, m.item_id, s.rating, s.text, s.summary, s.time
     FROM temp.${options.staging.reviewMap} m JOIN temp.${options.staging.texts} s ON s.seq = m.seq ORDER BY m.seq`,
  ).run(datasetId);
  return datasetId;
}
