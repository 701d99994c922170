import fs from "node:fs";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { DataSource } from "typeorm";
import type { AbstractSqliteDriver } from "typeorm/driver/sqlite-abstract/AbstractSqliteDriver.js";
import { InitialSchema1764200000000 } from "../../migrations/1764200000000-InitialSchema.ts";
import { TrainedModels1764300000000 } from "../../migrations/1764300000000-TrainedModels.ts";
import { TrainingJobs1764400000000 } from "../../migrations/1764400000000-TrainingJobs.ts";
import { ModelDevice1764500000000 } from "../../migrations/1764500000000-ModelDevice.ts";
import { JobLeases1764600000000 } from "../../migrations/1764600000000-JobLeases.ts";
import { FileRemovals1764700000000 } from "../../migrations/1764700000000-FileRemovals.ts";
import { ItemMetadata1764800000000 } from "../../migrations/1764800000000-ItemMetadata.ts";
import { Experiments1764900000000 } from "../../migrations/1764900000000-Experiments.ts";
import { Click } from "./entities/click.entity.ts";
import { Dataset } from "./entities/dataset.entity.ts";
import { Experiment } from "./entities/experiment.entity.ts";
import { Item } from "./entities/item.entity.ts";
import { PendingFileRemoval } from "./entities/pending-file-removal.entity.ts";
import { Review } from "./entities/review.entity.ts";
import { TrainedModel } from "./entities/trained-model.entity.ts";
import { TrainingJob } from "./entities/training-job.entity.ts";
import { User } from "./entities/user.entity.ts";
import { UserWordCounts } from "./entities/user-word-counts.entity.ts";
import { Word } from "./entities/word.entity.ts";

/** Every entity of the schema; a new table adds its entity class here (listed, never globbed). */
export const ENTITIES: ReadonlyArray<Function> = [Dataset, User, Item, Review, Click, Word, UserWordCounts, TrainedModel, TrainingJob, PendingFileRemoval, Experiment];

/** Every migration, in order; a schema change adds its migration class at the end. */
export const MIGRATIONS: ReadonlyArray<Function> = [InitialSchema1764200000000, TrainedModels1764300000000, TrainingJobs1764400000000, ModelDevice1764500000000, JobLeases1764600000000, FileRemovals1764700000000, ItemMetadata1764800000000, Experiments1764900000000];

/** A TypeORM data source over the SQLite file (not yet initialised; openDatabase does that). */
export function createDataSource(dbPath: string): DataSource {
  return new DataSource({
    type: "better-sqlite3",
    database: dbPath,
    entities: [...ENTITIES],
    migrations: [...MIGRATIONS],
    synchronize: false,
    migrationsRun: false,
    enableWAL: true,
    // The driver turns foreign keys on; WAL lets readers (the API) run while an ingest writes.
    prepareDatabase: (db: BetterSqlite3.Database) => {
      db.pragma("busy_timeout = 10000");
      db.pragma("synchronous = NORMAL");
    },
  });
}

/** Creates the folder, opens the database and applies pending migrations: every command starts here. */
export async function openDatabase(dbPath: string): Promise<DataSource> {
  if (dbPath !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(dbPath)), { recursive: true });
  const dataSource = createDataSource(dbPath);
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: "each" });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

/** The raw better-sqlite3 connection behind a data source, for bulk reads and writes. */
export function sqliteOf(dataSource: DataSource): BetterSqlite3.Database {
  return (dataSource.driver as AbstractSqliteDriver).databaseConnection as BetterSqlite3.Database;
}
