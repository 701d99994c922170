import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { DataSource, type ColumnType } from "typeorm";
import type { PostgresDriver } from "typeorm/driver/postgres/PostgresDriver.js";
import type { AbstractSqliteDriver } from "typeorm/driver/sqlite-abstract/AbstractSqliteDriver.js";
import { InitialSchema1764200000000 } from "../../migrations/1764200000000-InitialSchema.ts";
import { TrainedModels1764300000000 } from "../../migrations/1764300000000-TrainedModels.ts";
import { TrainingJobs1764400000000 } from "../../migrations/1764400000000-TrainingJobs.ts";
import { ModelDevice1764500000000 } from "../../migrations/1764500000000-ModelDevice.ts";
import { JobLeases1764600000000 } from "../../migrations/1764600000000-JobLeases.ts";
import { FileRemovals1764700000000 } from "../../migrations/1764700000000-FileRemovals.ts";
import { ItemMetadata1764800000000 } from "../../migrations/1764800000000-ItemMetadata.ts";
import { Experiments1764900000000 } from "../../migrations/1764900000000-Experiments.ts";
import { DatasetKeysOnly1765400000000 } from "../../migrations/1765400000000-DatasetKeysOnly.ts";
import { RowsWithoutDatasetKey1765500000000 } from "../../migrations/1765500000000-RowsWithoutDatasetKey.ts";
import { ExperimentLeases1765600000000 } from "../../migrations/1765600000000-ExperimentLeases.ts";
import { DatasetVersions1765710000000 } from "../../migrations/1765710000000-DatasetVersions.ts";
import { WarmStart1765740000000 } from "../../migrations/1765740000000-WarmStart.ts";
import { ApiKeys1765750000010 } from "../../migrations/1765750000010-ApiKeys.ts";
import { PostgresApiKeys1765750000010 } from "../../migrations/postgres/1765750000010-ApiKeys.ts";
import { ExperimentTuning1765760000001 } from "../../migrations/1765760000001-ExperimentTuning.ts";
import { ModelAliases1765770000001 } from "../../migrations/1765770000001-ModelAliases.ts";
import { ExportShards1765790000000 } from "../../migrations/1765790000000-ExportShards.ts";
import { PostgresSchema1765000000000 } from "../../migrations/postgres/1765000000000-PostgresSchema.ts";
import { CatalogNotify1765100000000 } from "../../migrations/postgres/1765100000000-CatalogNotify.ts";
import { CheckpointStore1765200000000 } from "../../migrations/postgres/1765200000000-CheckpointStore.ts";
import { JobNotify1765300000000 } from "../../migrations/postgres/1765300000000-JobNotify.ts";
import { PostgresDatasetKeysOnly1765400000000 } from "../../migrations/postgres/1765400000000-DatasetKeysOnly.ts";
import { PostgresRowsWithoutDatasetKey1765500000000 } from "../../migrations/postgres/1765500000000-RowsWithoutDatasetKey.ts";
import { PostgresExperimentLeases1765600000000 } from "../../migrations/postgres/1765600000000-ExperimentLeases.ts";
import { ExperimentNotify1765700000000 } from "../../migrations/postgres/1765700000000-ExperimentNotify.ts";
import { PostgresDatasetVersions1765710000000 } from "../../migrations/postgres/1765710000000-DatasetVersions.ts";
import { PostgresWarmStart1765740000000 } from "../../migrations/postgres/1765740000000-WarmStart.ts";
import { PostgresExperimentTuning1765760000001 } from "../../migrations/postgres/1765760000001-ExperimentTuning.ts";
import { PostgresModelAliases1765770000001 } from "../../migrations/postgres/1765770000001-ModelAliases.ts";
import { PostgresExportShards1765790000000 } from "../../migrations/postgres/1765790000000-ExportShards.ts";
import { isPostgresUrl } from "../config.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { ApiKey } from "./entities/api-key.entity.ts";
import { CheckpointChunk, CheckpointFile } from "./entities/checkpoint-file.entity.ts";
import { Click } from "./entities/click.entity.ts";
import { Dataset } from "./entities/dataset.entity.ts";
import { Experiment } from "./entities/experiment.entity.ts";
import { ExportJob, ExportShard, ExportShardPart } from "./entities/export-job.entity.ts";
import { Item } from "./entities/item.entity.ts";
import { ModelAlias } from "./entities/model-alias.entity.ts";
import { PendingFileRemoval } from "./entities/pending-file-removal.entity.ts";
import { Review } from "./entities/review.entity.ts";
import { ServedRecommendation } from "./entities/served-recommendation.entity.ts";
import { TrainedModel } from "./entities/trained-model.entity.ts";
import { TrainingJob } from "./entities/training-job.entity.ts";
import { UnfinishedReviewWrite } from "./entities/unfinished-review-write.entity.ts";
import { User } from "./entities/user.entity.ts";
import { UserWordCounts } from "./entities/user-word-counts.entity.ts";
import { Word } from "./entities/word.entity.ts";

/** Every entity of the schema; a new table adds its entity class here (listed, never globbed). */
export const ENTITIES: ReadonlyArray<Function> = [Dataset, User, Item, Review, Click, Word, UserWordCounts, TrainedModel, TrainingJob, PendingFileRemoval, Experiment, ApiKey, ModelAlias, ServedRecommendation, ExportJob, ExportShard, ExportShardPart];

/**
 * PostgreSQL's tables beyond ENTITIES: checkpoints kept in the database for every server
 * (checkpoint-store.ts), and ingests whose reviews may be committed before their dataset.
 */
export const POSTGRES_ENTITIES: ReadonlyArray<Function> = [...ENTITIES, CheckpointFile, CheckpointChunk, UnfinishedReviewWrite];

/**
 * Every SQLite migration, in order; a schema change adds its migration class at the end, and the same
 * change to POSTGRES_MIGRATIONS (test/db/migrations.test.ts proves that both end in the entities' schema).
 */
export const MIGRATIONS: ReadonlyArray<Function> = [InitialSchema1764200000000, TrainedModels1764300000000, TrainingJobs1764400000000, ModelDevice1764500000000, JobLeases1764600000000, FileRemovals1764700000000, ItemMetadata1764800000000, Experiments1764900000000, DatasetKeysOnly1765400000000, RowsWithoutDatasetKey1765500000000, ExperimentLeases1765600000000, DatasetVersions1765710000000, WarmStart1765740000000, ApiKeys1765750000010, ExperimentTuning1765760000001, ModelAliases1765770000001, ExportShards1765790000000];

/**
 * Every PostgreSQL migration, in order. PostgreSQL support began at the schema of the SQLite
 * migrations above, so its first migration creates that whole schema at once.
 */
export const POSTGRES_MIGRATIONS: ReadonlyArray<Function> = [PostgresSchema1765000000000, CatalogNotify1765100000000, CheckpointStore1765200000000, JobNotify1765300000000, PostgresDatasetKeysOnly1765400000000, PostgresRowsWithoutDatasetKey1765500000000, PostgresExperimentLeases1765600000000, ExperimentNotify1765700000000, PostgresDatasetVersions1765710000000, PostgresWarmStart1765740000000, PostgresApiKeys1765750000010, PostgresExperimentTuning1765760000001, PostgresModelAliases1765770000001, PostgresExportShards1765790000000];

/** Which database a `--db` / VCM_DB value names: a postgres:// or postgresql:// URL, else a SQLite file. */
export type Dialect = "sqlite" | "postgres";

export function dialectOf(target: string): Dialect {
  return isPostgresUrl(target) ? "postgres" : "sqlite";
}

/** The dialect of an open data source. */
export function dialectOfSource(dataSource: DataSource): Dialect {
  return dataSource.options.type === "postgres" ? "postgres" : "sqlite";
}

/**
 * True when the database answers over a socket (PostgreSQL), so requests that arrive together reach
 * their reads, and the work after them, a little apart; false for SQLite's in-process reads.
 */
export function readsCrossASocket(dataSource: DataSource): boolean {
  return dialectOfSource(dataSource) === "postgres";
}

/** A TypeORM data source over the SQLite file or the PostgreSQL URL (not yet initialised; openDatabase does that). */
export function createDataSource(target: string): DataSource {
  return dialectOf(target) === "postgres" ? createPostgresDataSource(target) : createSqliteDataSource(target);
}

/**
 * The entities name SQLite's column types (datetime, blob, real). On PostgreSQL the same names stand
 * for timestamptz, bytea and double precision (a REAL in SQLite is 8 bytes, so values stay the same on
 * both): this data source's driver is taught those three names, and nothing else changes.
 */
const POSTGRES_TYPE_OF: Readonly<Record<string, string>> = { datetime: "timestamp with time zone", blob: "bytea", real: "double precision" };

/** Integer columns that hold milliseconds since the epoch (SQLite's INTEGER is 8 bytes; PostgreSQL's is 4). */
const POSTGRES_BIGINT_COLUMNS: ReadonlySet<string> = new Set(["training_jobs.lease_expires_at", "experiments.lease_expires_at", "export_jobs.lease_expires_at", "export_shards.lease_expires_at", "reviews.time"]);

// COUNT(*), SUM(…) and bigint columns come back as numbers, as they do from SQLite (every such value here is far below 2^53).
pg.types.setTypeParser(pg.types.builtins.INT8, (text) => Number(text));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (text) => Number(text));

function postgresTypeOf(column: { type?: unknown; databaseName?: string; entityMetadata?: { tableName?: string } }): string | undefined {
  if (column.entityMetadata?.tableName && POSTGRES_BIGINT_COLUMNS.has(`${column.entityMetadata.tableName}.${column.databaseName}`)) return "bigint";
  return typeof column.type === "string" ? POSTGRES_TYPE_OF[column.type] : undefined;
}

function createPostgresDataSource(url: string): DataSource {
  const dataSource = new DataSource({
    type: "postgres",
    url,
    entities: [...POSTGRES_ENTITIES],
    migrations: [...POSTGRES_MIGRATIONS],
    synchronize: false,
    migrationsRun: false,
    // Small pools: several API instances and CLI commands share one server's connection limit. The
    // application name tells this process's commits from others' (commit-watch.ts). An idle connection
    // that dies with its server (a restart) is an 'error' TypeORM's pool listener takes: the pool drops
    // it and opens a fresh one at the next checkout (test/graphql/postgres-restart.test.ts). A connection
    // checked out between two statements has no pool listener, hence GuardedClient.
    extra: { max: 10, connectionTimeoutMillis: 10_000, application_name: connectionName(), Client: GuardedClient },
  });
  const driver = dataSource.driver as PostgresDriver;
  driver.supportedDataTypes.push(...(Object.keys(POSTGRES_TYPE_OF) as ColumnType[]));
  const normalizeType = driver.normalizeType.bind(driver);
  driver.normalizeType = (column) => postgresTypeOf(column as Parameters<typeof postgresTypeOf>[0]) ?? normalizeType(column);
  return dataSource;
}

/**
 * A pg client that always has an 'error' listener. The pool listens only to its idle clients, so a
 * client checked out between two statements (a transaction, a request's consistent reads) whose server
 * went away emitted an 'error' nobody heard, and Node ended the process. The error itself still
 * reaches the statement that runs on it, and the pool drops the broken client when it is released.
 */
class GuardedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on("error", () => undefined);
  }
}

/** This process's PostgreSQL application_name: host, pid and a random part, unique among the servers. */
function connectionName(): string {
  return `vcm:${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`.slice(0, 63);
}

/** The application_name of a PostgreSQL data source's connections. */
export function connectionNameOf(dataSource: DataSource): string {
  return String((dataSource.options as { extra?: { application_name?: string } }).extra?.application_name ?? "");
}

function createSqliteDataSource(dbPath: string): DataSource {
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

/**
 * Opens the database and applies pending migrations: every command starts here. For a SQLite file the
 * folder is created first; a PostgreSQL server that cannot be reached is a sentence naming it.
 */
export async function openDatabase(target: string): Promise<DataSource> {
  const dialect = dialectOf(target);
  if (dialect === "sqlite" && target !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
  const dataSource = createDataSource(target);
  try {
    await dataSource.initialize();
  } catch (error) {
    if (dialect === "postgres") throw unreachablePostgres(target, error);
    throw error;
  }
  try {
    await dataSource.runMigrations({ transaction: "each" });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

/** The URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "the PostgreSQL URL";
  }
}

function unreachablePostgres(url: string, error: unknown): UserError {
  const reason = error instanceof Error ? error.message : String(error);
  // The cause lets isDatabaseUnavailableError tell a server that is restarting (a training worker waits for it).
  return Object.assign(
    new UserError(
      ErrorCode.BAD_USER_INPUT,
      `could not connect to the PostgreSQL database ${redactedUrl(url)} (${reason}); check that the server runs, that the URL's user, password and database are right, and that this machine may connect to it`,
    ),
    { cause: error },
  );
}

/** The raw better-sqlite3 connection behind a SQLite data source, for bulk reads and writes. */
export function sqliteOf(dataSource: DataSource): BetterSqlite3.Database {
  if (dialectOfSource(dataSource) !== "sqlite") throw new Error("Invariant failed: sqliteOf called on a PostgreSQL data source");
  return (dataSource.driver as AbstractSqliteDriver).databaseConnection as BetterSqlite3.Database;
}
