/**
 * A training job under the database's faults, with real parts: a foreign SQLite write lock (a second
 * connection holding BEGIN IMMEDIATE for longer than the worker's 10 s busy_timeout) at the job's start
 * and at its end, and a private PostgreSQL server stopped for seconds in the middle of a job. Each job
 * must end SUCCEEDED with every epoch recorded and its model READY.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { setBusyTimeout } from "../../src/db/busy.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import type { TrainingJob } from "../../src/db/entities/training-job.entity.ts";
import { findModel } from "../../src/db/model-rows.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { TrainingJobService } from "../../src/services/jobs.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";
import { POSTGRES_BINDIR, startPrivatePostgres, type PrivatePostgres } from "../db/private-postgres.ts";

const TINY = { latentDim: 4, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };
const DATASET = "faults";

/** Resolves when `until` holds for the job's row, polling it. */
async function waitForJob(jobs: TrainingJobService, id: number, until: (job: TrainingJob) => boolean, timeoutMs = 180_000): Promise<TrainingJob> {
  const started = Date.now();
  for (;;) {
    const job = await jobs.get(id).catch(() => undefined);
    if (job !== undefined && until(job)) return job;
    if (Date.now() - started > timeoutMs) throw new Error(`job ${id} stuck: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const ended = (job: TrainingJob): boolean => job.status !== "queued" && job.status !== "running";

/** Checks a job that must have succeeded despite the fault: every epoch counted, its model ready with every epoch's record. */
async function expectWhole(dataSource: DataSource, job: TrainingJob, epochs: number): Promise<void> {
  expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
  expect({ epoch: job.epoch, totalEpochs: job.totalEpochs }).toEqual({ epoch: epochs, totalEpochs: epochs });
  expect(job.lastEpoch?.epoch).toBe(epochs);
  const model = await findModel(dataSource, job.modelId!);
  expect(model?.status).toBe("ready");
  expect(model?.history.map((h) => h.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));
}

describe("a training job under a foreign SQLite write lock", () => {
  let dir: string;
  let database: TestDatabase;
  let dataSource: DataSource;
  let jobs: TrainingJobService;
  let modelsDir: string;
  let datasetId: number;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-job-lock-"));
    modelsDir = path.join(dir, "models");
    database = await createTestDatabase("sqlite");
    dataSource = await openDatabase(database.target);
    datasetId = (await ingestDataset(dataSource, { name: DATASET, source: syntheticSource({ users: 150, items: 120, vocab: 300, seed: 7 }) })).datasetId;
    // As a server does: its own writes retry asynchronously instead of blocking in busy_timeout.
    setBusyTimeout(dataSource, 20);
    jobs = new TrainingJobService({ dataSource, dbPath: database.target, modelsDir });
    await jobs.recover();
  });

  afterAll(async () => {
    await jobs?.close();
    await dataSource?.destroy();
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Holds SQLite's write lock from another connection for `ms`; resolves when it is released. */
  function holdLock(ms: number): { released: Promise<number> } {
    const holder = new Database(database.target);
    holder.exec("BEGIN IMMEDIATE");
    const released = new Promise<number>((resolve) =>
      setTimeout(() => {
        holder.exec("ROLLBACK");
        holder.close();
        resolve(Date.now());
      }, ms),
    );
    return { released };
  }

  it("refuses a job that cannot fit in memory before queueing it (40,000 users × 200,000 items, default sizes)", async () => {
    const queued = (await jobs.list()).length;
    const started = Date.now();
    const refused = await jobs
      .start({ dataset: { id: datasetId, name: DATASET, userCount: 40_000, itemCount: 200_000, vocabularySize: 10_000, trainClickCount: 1_200_000 }, variant: "vcm" })
      .catch((error: unknown) => error);
    // Milliseconds once the backend is up; the first call starts it (well under a second here).
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(refused).toBeInstanceOf(UserError);
    expect(refused).toMatchObject({ code: ErrorCode.BAD_USER_INPUT });
    expect((refused as UserError).message).toMatch(/^Training this model needs about 5\.\d GiB .* more than the WebAssembly backend's heap holds \(4\.0 GiB\); train with a smaller batch/);
    expect(await jobs.list()).toHaveLength(queued);
  });

  it("waits out a lock held while the worker creates its model row (longer than its 10 s busy_timeout)", async () => {
    const epochs = 3;
    const job = await jobs.start({ dataset: { id: datasetId, name: DATASET }, variant: "vcm", hyperParameters: { ...TINY, epochs } });
    // From right after the start: the worker starts, loads the dataset and blocks on creating its model
    // row well within the first few seconds, so more than 10 s of the 16 fall on that write.
    const { released } = holdLock(16_000);
    const heldUntil = await released;
    const done = await waitForJob(jobs, job.id, ended);
    await expectWhole(dataSource, done, epochs);
    const model = await findModel(dataSource, done.modelId!);
    // The row could only be written once the lock was gone.
    expect(model!.createdAt.getTime()).toBeGreaterThanOrEqual(heldUntil - 1_000);
  });

  it("waits out a lock held while the worker publishes its ready model", async () => {
    const epochs = 3;
    const taken: number[] = [];
    let lock: { released: Promise<number> } | undefined;
    // The hook: the worker's checkpoint appears (under its temporary name) right before it evaluates and publishes.
    const watcher = fs.watch(modelsDir, (_event, file) => {
      if (lock === undefined && typeof file === "string" && file.startsWith("model-")) {
        lock = holdLock(12_000);
        taken.push(Date.now());
      }
    });
    try {
      const job = await jobs.start({ dataset: { id: datasetId, name: DATASET }, variant: "vcm", hyperParameters: { ...TINY, epochs } });
      const done = await waitForJob(jobs, job.id, ended);
      expect(lock).toBeDefined();
      const heldUntil = await lock!.released;
      await expectWhole(dataSource, done, epochs);
      // It ended after the lock was released, i.e. its last writes waited the lock out.
      expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(heldUntil - 1_000);
      expect(heldUntil - taken[0]).toBeGreaterThanOrEqual(11_000);
    } finally {
      watcher.close();
    }
  });
});

describe.skipIf(POSTGRES_BINDIR === undefined)("a training job while PostgreSQL restarts", () => {
  let dir: string;
  let server: PrivatePostgres;
  let dataSource: DataSource;
  let jobs: TrainingJobService;
  let datasetId: number;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-job-pg-"));
    server = startPrivatePostgres();
    dataSource = await openDatabase(server.url);
    datasetId = (await ingestDataset(dataSource, { name: DATASET, source: syntheticSource({ users: 150, items: 120, vocab: 300, seed: 7 }) })).datasetId;
  });

  afterAll(async () => {
    await jobs?.close();
    await dataSource?.destroy().catch(() => undefined);
    server?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("records the epochs of a 6 s outage when the server returns, and ends SUCCEEDED with epoch == totalEpochs", async () => {
    const epochs = 40;
    const outage: { stoppedAt?: number; startedAt?: number; statusAtStop?: string } = {};
    let stopping: Promise<void> | undefined;
    jobs = new TrainingJobService({
      dataSource,
      dbPath: server.url,
      modelsDir: path.join(dir, "models"),
      onUpdate: (job) => {
        if (stopping !== undefined || job.epoch < 3) return;
        stopping = (async () => {
          outage.statusAtStop = job.status;
          server.stop();
          outage.stoppedAt = Date.now();
          await new Promise((resolve) => setTimeout(resolve, 6_000));
          server.start();
          outage.startedAt = Date.now();
        })();
      },
    });
    await jobs.recover();
    const job = await jobs.start({ dataset: { id: datasetId, name: DATASET }, variant: "vcm", hyperParameters: { ...TINY, epochs } });
    // Polling while the server is down fails; what matters is the job's row once it is back.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (stopping !== undefined) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    await stopping;
    const done = await waitForJob(jobs, job.id, ended);
    expect(outage.statusAtStop).toBe("running");
    expect(outage.startedAt! - outage.stoppedAt!).toBeGreaterThanOrEqual(5_000);
    await expectWhole(dataSource, done, epochs);
  });
});
