/**
 * A real database built through the migrations (a SQLite file, or a fresh PostgreSQL database in the
 * postgres test project: test/db/databases.ts), holding a small generated dataset, and a server over
 * it: what every GraphQL test starts from.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { loadAppConfig, type AppConfig } from "../../src/config.ts";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import type { ListenAccess } from "../../src/graphql/auth.ts";
import { createTestDatabase } from "../db/databases.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createServer, createServerDeps, type VcmServer } from "../../src/server.ts";

/** The generated dataset's name in every API test database. */
export const TEST_DATASET = "demo-small";

/** Collects what formatError logs, so tests can check that masked errors were logged. */
export class CollectingLogger {
  readonly entries: Array<{ message: string; error: unknown }> = [];
  error(message: string, error: unknown): void {
    this.entries.push({ message, error });
  }
}

export interface ApiFixture {
  readonly dir: string;
  /** The SQLite file or the PostgreSQL URL. */
  readonly dbPath: string;
  readonly dataSource: DataSource;
  readonly config: AppConfig;
  readonly logger: CollectingLogger;
  readonly server: VcmServer;
  close(): Promise<void>;
}

/** Creates the database (migrations + a generated dataset of ~150 users) and a server over it. */
export async function createApiFixture(options: { adminToken?: string; access?: ListenAccess; persistedOnly?: boolean } = {}): Promise<ApiFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-api-"));
  const database = await createTestDatabase();
  const dbPath = database.target;
  const dataSource = await openDatabase(dbPath);
  await ingestDataset(dataSource, {
    name: TEST_DATASET,
    source: syntheticSource({ users: 150, items: 120, vocab: 400, seed: 7 }),
  });
  const config = loadAppConfig({ dbPath, modelsDir: path.join(dir, "models"), experimentsDir: path.join(dir, "experiments"), adminToken: options.adminToken }, {});
  const logger = new CollectingLogger();
  const server = await createServer(createServerDeps({ dataSource, config, logger, access: options.access, persistedOnly: options.persistedOnly }));
  return {
    dir,
    dbPath,
    dataSource,
    config,
    logger,
    server,
    async close() {
      await server.stop();
      await dataSource.destroy();
      await database.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stores a trained-model row as the training service would after training and evaluation. */
export async function insertTrainedModel(
  dataSource: DataSource,
  fields: Partial<TrainedModel> & { datasetId: number },
): Promise<TrainedModel> {
  const repository = dataSource.getRepository(TrainedModel);
  return repository.save(
    repository.create({
      variant: "vcm",
      config: { latentDim: 16, epochs: 2 },
      backend: "wasm",
      status: "ready",
      error: null,
      bestEpoch: 2,
      secondsPerEpoch: 0.5,
      testMetrics: {
        vcm: { "ndcg@10": 0.11, "ndcg@20": 0.12, "ndcg@50": 0.15, "ndcg@100": 0.2, "recall@10": 0.1, "recall@20": 0.2, "recall@50": 0.3, "recall@100": 0.4 },
      },
      history: [1, 2].map((epoch) => ({
        epoch,
        beta: 0.01 * epoch,
        reconX: 40 - epoch,
        reconY: 300 - epoch,
        klPriorX: 1,
        klPriorY: 2,
        klCrossX: 0.5,
        klCrossY: 0.4,
        valNdcg100: 0.1 * epoch,
        seconds: 0.5,
      })),
      checkpointPath: null,
      datasetFingerprint: null,
      ...fields,
    }),
  );
}
