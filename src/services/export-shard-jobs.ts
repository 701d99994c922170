/**
 * The shards of every pass over users split into shards (sharded-pass.ts: exports, cohort and test
 * evaluations; the kind keeps the export's name, which came first) as one kind of job of the one job
 * queue (job-queue.ts, listed in job-kinds.ts): every server, and the process that asked for a pass,
 * claims queued shards and runs each in a worker (export-shard-worker.ts). A shard whose worker dies,
 * or whose process is gone, is queued again until MAX_SHARD_ATTEMPTS; a pass whose asking process is
 * gone is failed, and its shards stop.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DataSource } from "typeorm";
import { ExportShard } from "../db/entities/export-job.entity.ts";
import { cancelShard, claimShard, endAbandonedShards, endShardAttempt, failOrphanedExports, queuedShardIds, removeExport, shardToRun } from "../db/export-shards.ts";
import { renewLease } from "../db/job-leases.ts";
import { JobQueue, type JobExit, type JobRun } from "./job-queue.ts";

/** The worker module each shard runs in. */
export const EXPORT_SHARD_WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "export-shard-worker.ts");

/** Attempts a shard gets before its export fails (a worker killed, a server gone). */
export const MAX_SHARD_ATTEMPTS = 3;

/** Bytes of lines a worker gathers before it stores them as one part. */
export const SHARD_PART_BYTES = 1 << 20;

export const SHARD_STOPPED_MESSAGE = "The process that ran this shard stopped before it finished";
export const EXPORT_ORPHANED_MESSAGE = "The process that asked for this sharded pass (an export or an evaluation) is gone; run it again.";

/** What a server hands a shard's worker (as one JSON argument). */
export interface ExportShardSpec {
  readonly dbPath: string;
  readonly modelsDir: string;
  readonly shardId: number;
  /** The process that claimed the shard; the worker's writes are conditional on it. */
  readonly owner: string;
  readonly attempt: number;
}

/** The shards of every sharded pass, as one kind of job of this process (a server's, or the asking CLI's). */
export class ExportShardService {
  readonly #dataSource: DataSource;
  readonly #queue: JobQueue<never>;

  constructor(o: { dataSource: DataSource; dbPath: string; modelsDir: string; leaseSeconds?: number; workerPath?: string }) {
    const dataSource = o.dataSource;
    this.#dataSource = dataSource;
    this.#queue = new JobQueue<never>({
      leaseSeconds: o.leaseSeconds,
      runner: {
        kind: "export shard",
        workerPath: o.workerPath ?? EXPORT_SHARD_WORKER,
        // A shard stopped at shutdown is queued again (settle), for another process to finish.
        stopSignal: "SIGTERM",
        queued: (limit) => queuedShardIds(dataSource, limit),
        claim: (c) => claimShard(dataSource, c),
        renew: (c) => renewLease(dataSource, { table: ExportShard, ...c }),
        failAbandoned: async (c) => {
          await failOrphanedExports(dataSource, { exceptOwner: c.exceptOwner, error: EXPORT_ORPHANED_MESSAGE });
          return endAbandonedShards(dataSource, { exceptOwner: c.exceptOwner, error: `${SHARD_STOPPED_MESSAGE} (its process is gone).`, maxAttempts: MAX_SHARD_ATTEMPTS });
        },
        start: (c) => this.#run({ ...c, dbPath: o.dbPath, modelsDir: o.modelsDir }),
      },
    });
  }

  /** This process's name in the owner column of the shards it claims. */
  get owner(): string {
    return this.#queue.owner;
  }

  /** Milliseconds a lease lasts without renewal. */
  get leaseMs(): number {
    return this.#queue.leaseMs;
  }

  /** Call once at start: shards of processes that are gone are queued again, queued ones start, and a heartbeat keeps doing so. */
  async recover(): Promise<void> {
    await this.#queue.recover();
  }

  /** Starts a queued shard now when this process runs none. */
  pump(): Promise<void> {
    return this.#queue.pump();
  }

  /** Gives up an export: its queued shards are cancelled, and running ones stop at their owners' next heartbeat. */
  async cancel(exportId: number): Promise<void> {
    await removeExport(this.#dataSource, { id: exportId });
  }

  async close(): Promise<void> {
    await this.#queue.close();
  }

  async #run(o: { id: number; owner: string; leaseMs: number; dbPath: string; modelsDir: string }): Promise<JobRun<never>> {
    const { shard } = await shardToRun(this.#dataSource, o.id);
    const spec: ExportShardSpec = { dbPath: o.dbPath, modelsDir: o.modelsDir, shardId: o.id, owner: o.owner, attempt: shard.attempts };
    return { argument: spec, settle: (exit) => this.#settle({ id: o.id, owner: o.owner, exit }) };
  }

  /** The worker records a finished shard, or a failure no retry mends; one that died left its shard running, which is queued again. */
  async #settle(o: { id: number; owner: string; exit: JobExit }): Promise<void> {
    const { exit } = o;
    if (exit.code === 0) return;
    if (exit.cancelled) {
      await cancelShard(this.#dataSource, { id: o.id, owner: o.owner, error: EXPORT_ORPHANED_MESSAGE });
      return;
    }
    const how = exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    await endShardAttempt(this.#dataSource, { id: o.id, owner: o.owner, error: `${SHARD_STOPPED_MESSAGE} (${how}).`, maxAttempts: MAX_SHARD_ATTEMPTS });
  }
}

