/**
 * Who runs a job (of any kind of the job queue, src/services/job-queue.ts), when several servers share
 * one database: a server claims a queued job with a conditional update (so two never start the same
 * one), renews its lease while the job runs, and any server fails a job whose lease ran out, once (the
 * update that fails it is conditional too).
 */
import os from "node:os";
import { randomUUID } from "node:crypto";
import type { DataSource, EntityManager, FindOptionsWhere } from "typeorm";
import { processIsAlive } from "../processes.ts";
import { Experiment } from "./entities/experiment.entity.ts";
import type { ExportJob, ExportShard } from "./entities/export-job.entity.ts";
import { TrainingJob } from "./entities/training-job.entity.ts";
import { failModel } from "./model-rows.ts";

/** A name for this server process that no other process (here or on another host) has: host, pid, random part. */
export function newLeaseOwner(): string {
  return `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * Whether the owner of a running job is gone. An owner on this host is judged by its process, which
 * a lock held longer than the lease (a long ingest) cannot fake; one on another host, or a row from
 * before leases, by its lease alone.
 */
export function ownerIsGone(job: Pick<TrainingJob, "owner" | "leaseExpiresAt">, now: number): boolean {
  if (job.owner === null || job.leaseExpiresAt === null) return true;
  const [host, pidText] = job.owner.split(":");
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0) return job.leaseExpiresAt < now;
  return pid !== process.pid && !processIsAlive(pid);
}

/** The tables of the job queue's kinds: each row has a status, an owner, a lease and a cancel request. */
export type JobTable = typeof TrainingJob | typeof Experiment;

/** Every table whose rows are held under a lease: the job tables and a sharded export's (src/db/export-shards.ts). */
export type LeasedTable = JobTable | typeof ExportJob | typeof ExportShard;

/** The columns every job table has that a sweep of abandoned jobs reads. */
type AbandonedRow = Pick<TrainingJob, "id" | "status" | "owner" | "leaseExpiresAt" | "modelId">;

/** Marks a queued job running for `owner`; false when another server took it (or it was cancelled) first. */
export async function claimQueuedJob(dataSource: DataSource, o: { table: JobTable; id: number; owner: string; leaseMs: number }): Promise<boolean> {
  const result = await dataSource
    .createQueryBuilder()
    .update(o.table)
    // Only training jobs record when they started (an experiment's runs do, as models).
    .set({ status: "running", owner: o.owner, leaseExpiresAt: Date.now() + o.leaseMs, ...(o.table === TrainingJob ? { startedAt: new Date() } : {}) })
    .where("id = :id AND status = 'queued'", { id: o.id })
    .execute();
  return (result.affected ?? 0) === 1;
}

/**
 * Extends the lease of a job `owner` runs. `held` is false when the job is no longer running under
 * this owner (cancelled, or failed by another server after the lease ran out); `cancelRequested` when
 * a cancel was asked elsewhere.
 */
export async function renewLease(dataSource: DataSource, o: { table: LeasedTable; id: number; owner: string; leaseMs: number }): Promise<{ held: boolean; cancelRequested: boolean }> {
  const result = await dataSource
    .createQueryBuilder()
    .update(o.table)
    .set({ leaseExpiresAt: Date.now() + o.leaseMs })
    .where("id = :id AND status = 'running' AND owner = :owner", { id: o.id, owner: o.owner })
    .execute();
  if ((result.affected ?? 0) !== 1) return { held: false, cancelRequested: false };
  const row = await dataSource.getRepository<{ id: number; cancelRequested: boolean }>(o.table).findOne({ where: { id: o.id }, select: { id: true, cancelRequested: true } });
  return { held: true, cancelRequested: row?.cancelRequested === true };
}

/** Asks the owner of a running job to cancel it; false when the job is not running any more. */
export async function requestCancel(dataSource: DataSource, o: { table: JobTable; id: number }): Promise<boolean> {
  const result = await dataSource.createQueryBuilder().update(o.table).set({ cancelRequested: true }).where("id = :id AND status = 'running'", { id: o.id }).execute();
  return (result.affected ?? 0) === 1;
}

/** The progress columns a running job's owner writes after each epoch. */
export type JobProgress = Pick<TrainingJob, "epoch" | "totalEpochs" | "lastEpoch" | "bestValNdcg100" | "etaSeconds">;

/** Writes a job's progress while `owner` still runs it; false when another server took it (nothing is written). */
export async function recordOwnedProgress(dataSource: DataSource, o: { jobId: number; owner: string; progress: JobProgress }): Promise<boolean> {
  const result = await dataSource.getRepository(TrainingJob).update({ id: o.jobId, owner: o.owner, status: "running" }, o.progress);
  return (result.affected ?? 0) === 1;
}

/**
 * Fails every running row of `table` whose owner is gone (ownerIsGone), except `exceptOwner`'s: each in
 * a transaction of its own, by exactly one caller (the update is conditional on the owner and lease it
 * read), with `set` beside the failed status and `alsoFail` for what hangs on the row. Returns the ids
 * this call failed.
 */
export async function failRowsOfGoneOwners<T extends { id: number; owner: string | null; leaseExpiresAt: number | null; status: string }>(
  dataSource: DataSource,
  o: { table: LeasedTable; error: string; exceptOwner: string; set?: Record<string, unknown>; alsoFail?: (manager: EntityManager, row: T) => Promise<void> },
): Promise<number[]> {
  const now = Date.now();
  const running = await dataSource.getRepository<T>(o.table).find({ where: { status: "running" } as FindOptionsWhere<T> });
  const failed: number[] = [];
  for (const row of running) {
    if (row.owner === o.exceptOwner || !ownerIsGone(row, now)) continue;
    const done = await dataSource.transaction(async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .update(o.table)
        .set({ status: "failed", error: o.error, finishedAt: new Date(), leaseExpiresAt: null, ...o.set })
        .where("id = :id AND status = 'running' AND owner IS NOT DISTINCT FROM :owner AND lease_expires_at IS NOT DISTINCT FROM :lease", { id: row.id, owner: row.owner, lease: row.leaseExpiresAt })
        .execute();
      if ((result.affected ?? 0) !== 1) return false;
      await o.alsoFail?.(manager, row);
      return true;
    });
    if (done) failed.push(row.id);
  }
  return failed;
}

/** Fails every running job of `table` whose owner is gone (failRowsOfGoneOwners), its half-made model row with it. */
export async function failAbandonedJobs(dataSource: DataSource, o: { table: JobTable; error: string; exceptOwner: string }): Promise<number[]> {
  return failRowsOfGoneOwners<AbandonedRow>(dataSource, {
    ...o,
    // A failed training job keeps pointing at its failed model (with the reason) and has no ETA; an experiment is between runs again.
    set: o.table === TrainingJob ? { etaSeconds: null } : { modelId: null },
    alsoFail: async (manager, job) => {
      if (job.modelId !== null) await failModel(manager, { modelId: job.modelId, from: "training", error: o.error });
    },
  });
}

/**
 * Ends a job this owner runs with `change`, unless the job was taken from it meanwhile (then nothing
 * is written and false is returned). Rows without an owner (queued ones) are ended regardless.
 */
export async function finishOwnedJob(
  dataSource: DataSource,
  o: { jobId: number; owner: string | null; change: Partial<Pick<TrainingJob, "status" | "error" | "modelId" | "etaSeconds" | "finishedAt">> },
): Promise<boolean> {
  const query = dataSource
    .createQueryBuilder()
    .update(TrainingJob)
    .set({ ...o.change, leaseExpiresAt: null })
    .where("id = :id", { id: o.jobId });
  if (o.owner !== null) query.andWhere("owner = :owner AND status = 'running'", { owner: o.owner });
  const result = await query.execute();
  return (result.affected ?? 0) === 1;
}
