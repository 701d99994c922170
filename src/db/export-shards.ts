/**
 * The rows of a pass over users split into shards (src/services/sharded-pass.ts: an export, a cohort
 * or test evaluation): its row, held by the process that asked for it as a job's owner holds a lease;
 * its shards, jobs of the one job queue that any server or that process claims; the lines each
 * attempt of a shard wrote. Every write that belongs to one holder is conditional on it (owner,
 * attempt), so a holder whose lease ran out writes nothing.
 */
import type { DataSource } from "typeorm";
import { ExportJob, ExportShard, ExportShardPart, type ShardedPassSettings } from "./entities/export-job.entity.ts";
import { failRowsOfGoneOwners, ownerIsGone } from "./job-leases.ts";

/** A shard as its worker needs it: its users' range and the export's settings. */
export interface ShardToRun {
  readonly shard: ExportShard;
  readonly modelId: number;
  /** Users of the whole pass, as the asking process counted them. */
  readonly userCount: number;
  readonly settings: ShardedPassSettings;
}

/** Where an export stands, shard by shard (in order). */
export interface ExportProgress {
  readonly status: string;
  readonly error: string | null;
  readonly shards: ReadonlyArray<Pick<ExportShard, "id" | "shardIndex" | "status" | "attempts" | "owner" | "lines" | "error">>;
}

/**
 * Creates an export held by `owner` and its shards, queued: shard i covers positions
 * [bounds[i], bounds[i + 1]) of the export's list of users.
 */
export async function createExport(dataSource: DataSource, o: { modelId: number; settings: ShardedPassSettings; userCount: number; bounds: ReadonlyArray<number>; owner: string; leaseMs: number }): Promise<number> {
  return dataSource.transaction(async (manager) => {
    const row = await manager.getRepository(ExportJob).save(
      manager.getRepository(ExportJob).create({
        modelId: o.modelId,
        settings: o.settings,
        userCount: o.userCount,
        shardCount: o.bounds.length - 1,
        status: "running",
        owner: o.owner,
        leaseExpiresAt: Date.now() + o.leaseMs,
      }),
    );
    const shards = o.bounds.slice(0, -1).map((first, i) => manager.getRepository(ExportShard).create({ exportId: row.id, shardIndex: i, firstPosition: first, endPosition: o.bounds[i + 1], status: "queued" }));
    await manager.getRepository(ExportShard).save(shards);
    return row.id;
  });
}

/** Up to `limit` queued shards of running exports, oldest first. */
export async function queuedShardIds(dataSource: DataSource, limit: number): Promise<number[]> {
  const rows: Array<{ id: number }> = await dataSource
    .getRepository(ExportShard)
    .createQueryBuilder("s")
    .select("s.id", "id")
    .innerJoin(ExportJob, "e", "e.id = s.export_id")
    .where("s.status = 'queued' AND e.status = 'running'")
    .orderBy("s.id")
    .limit(limit)
    .getRawMany();
  return rows.map((r) => Number(r.id));
}

/** Marks a queued shard running for `owner` and counts the attempt; false when another process took it first. */
export async function claimShard(dataSource: DataSource, o: { id: number; owner: string; leaseMs: number }): Promise<boolean> {
  const result = await dataSource
    .createQueryBuilder()
    .update(ExportShard)
    .set({ status: "running", owner: o.owner, leaseExpiresAt: Date.now() + o.leaseMs, attempts: () => "attempts + 1" })
    .where("id = :id AND status = 'queued'", { id: o.id })
    .execute();
  return (result.affected ?? 0) === 1;
}

/** The shard with its export's model and settings. */
export async function shardToRun(dataSource: DataSource, id: number): Promise<ShardToRun> {
  const shard = await dataSource.getRepository(ExportShard).findOneOrFail({ where: { id } });
  const job = await dataSource.getRepository(ExportJob).findOneOrFail({ where: { id: shard.exportId } });
  return { shard, modelId: job.modelId, userCount: job.userCount, settings: job.settings };
}

/** Stores one run of lines of an attempt. */
export async function writeShardPart(dataSource: DataSource, o: { shardId: number; attempt: number; seq: number; body: string }): Promise<void> {
  await dataSource.getRepository(ExportShardPart).insert({ shardId: o.shardId, attempt: o.attempt, seq: o.seq, body: o.body });
}

/** Marks the shard done by this attempt; false when it was taken from `owner` meanwhile (its lines are then ignored). */
export async function finishShard(dataSource: DataSource, o: { id: number; owner: string; attempt: number; lines: number }): Promise<boolean> {
  const result = await dataSource
    .createQueryBuilder()
    .update(ExportShard)
    .set({ status: "done", lines: o.lines, leaseExpiresAt: null, finishedAt: new Date() })
    .where("id = :id AND status = 'running' AND owner = :owner AND attempts = :attempt", { id: o.id, owner: o.owner, attempt: o.attempt })
    .execute();
  return (result.affected ?? 0) === 1;
}

/**
 * Ends the attempt `owner` runs: the shard is queued again while it has attempts left, else failed
 * with `error` (and its export with it); `final` fails it at once (an error no retry can mend).
 * False when the shard was not running under `owner` (nothing changes).
 */
export async function endShardAttempt(dataSource: DataSource, o: { id: number; owner: string | null; leaseExpiresAt?: number | null; error: string; maxAttempts: number; final?: boolean }): Promise<boolean> {
  return dataSource.transaction(async (manager) => {
    const shard = await manager.getRepository(ExportShard).findOne({ where: { id: o.id } });
    if (shard === null || shard.status !== "running" || shard.owner !== o.owner) return false;
    if (o.leaseExpiresAt !== undefined && shard.leaseExpiresAt !== o.leaseExpiresAt) return false;
    const retry = o.final !== true && shard.attempts < o.maxAttempts;
    const result = await manager
      .createQueryBuilder()
      .update(ExportShard)
      .set(retry ? { status: "queued", owner: null, leaseExpiresAt: null, error: o.error } : { status: "failed", leaseExpiresAt: null, error: o.error, finishedAt: new Date() })
      .where("id = :id AND status = 'running' AND owner IS NOT DISTINCT FROM :owner AND attempts = :attempts", { id: o.id, owner: shard.owner, attempts: shard.attempts })
      .execute();
    if ((result.affected ?? 0) !== 1) return false;
    if (!retry) await manager.createQueryBuilder().update(ExportJob).set({ status: "failed", error: o.error, finishedAt: new Date() }).where("id = :id AND status = 'running'", { id: shard.exportId }).execute();
    return true;
  });
}

/** Ends every running attempt whose owner is gone (queued again, or failed after its last attempt); returns the shards' ids. */
export async function endAbandonedShards(dataSource: DataSource, o: { exceptOwner: string; error: string; maxAttempts: number }): Promise<number[]> {
  const now = Date.now();
  const running = await dataSource.getRepository(ExportShard).find({ where: { status: "running" } });
  const ended: number[] = [];
  for (const shard of running) {
    if (shard.owner === o.exceptOwner || !ownerIsGone(shard, now)) continue;
    if (await endShardAttempt(dataSource, { id: shard.id, owner: shard.owner, leaseExpiresAt: shard.leaseExpiresAt, error: o.error, maxAttempts: o.maxAttempts })) ended.push(shard.id);
  }
  return ended;
}

/**
 * Fails the running exports whose asking process is gone, with their shards (a running shard is asked
 * to stop at its owner's next heartbeat); returns their ids.
 */
export async function failOrphanedExports(dataSource: DataSource, o: { exceptOwner: string; error: string }): Promise<number[]> {
  return failRowsOfGoneOwners<ExportJob>(dataSource, {
    table: ExportJob,
    ...o,
    alsoFail: async (manager, job) => {
      await manager.createQueryBuilder().update(ExportShard).set({ status: "cancelled", error: o.error }).where("export_id = :id AND status = 'queued'", { id: job.id }).execute();
      await manager.createQueryBuilder().update(ExportShard).set({ cancelRequested: true }).where("export_id = :id AND status = 'running'", { id: job.id }).execute();
    },
  });
}

/** Marks a shard cancelled (its export was given up). */
export async function cancelShard(dataSource: DataSource, o: { id: number; owner: string; error: string }): Promise<void> {
  await dataSource.createQueryBuilder().update(ExportShard).set({ status: "cancelled", error: o.error, leaseExpiresAt: null }).where("id = :id AND status = 'running' AND owner = :owner", o).execute();
}

/** The export and its shards, in order. */
export async function exportProgress(dataSource: DataSource, exportId: number): Promise<ExportProgress> {
  const job = await dataSource.getRepository(ExportJob).findOneOrFail({ where: { id: exportId } });
  const shards = await dataSource.getRepository(ExportShard).find({
    where: { exportId },
    order: { shardIndex: "ASC" },
    select: { id: true, shardIndex: true, status: true, attempts: true, owner: true, lines: true, error: true },
  });
  return { status: job.status, error: job.error, shards };
}

/** The lines the finishing attempt of a shard wrote, run by run, `batch` runs per read. */
export async function* shardParts(dataSource: DataSource, o: { shardId: number; attempt: number; batch?: number }): AsyncGenerator<string> {
  const batch = o.batch ?? 16;
  let next = 0;
  for (;;) {
    const parts = await dataSource
      .getRepository(ExportShardPart)
      .createQueryBuilder("p")
      .where("p.shard_id = :shard AND p.attempt = :attempt AND p.seq >= :next", { shard: o.shardId, attempt: o.attempt, next })
      .orderBy("p.seq")
      .limit(batch)
      .getMany();
    for (const part of parts) yield part.body;
    if (parts.length < batch) return;
    next = parts[parts.length - 1].seq + 1;
  }
}

/** Deletes an export, its shards and their lines (once its file is written, or it failed). */
export async function removeExport(dataSource: DataSource, o: { id: number }): Promise<void> {
  await dataSource.transaction(async (manager) => {
    await manager.createQueryBuilder().delete().from(ExportShardPart).where("shard_id IN (SELECT id FROM export_shards WHERE export_id = :id)", { id: o.id }).execute();
    await manager.getRepository(ExportShard).delete({ exportId: o.id });
    await manager.getRepository(ExportJob).delete({ id: o.id });
  });
}
