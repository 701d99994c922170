/**
 * Batch scoring over every instance (`vcm export recommendations --shards N`): the users of an export
 * are cut into N contiguous shards of whole batches, each a job of the one job queue (export-shard-jobs.ts),
 * so every server on the database takes its share in its worker (export-shard-worker.ts), and the asking
 * process takes shards too (alone, it does them all). Each shard's lines go to the database; the
 * asking process then writes the file from them in order, equal byte for byte to a single process's
 * export (a shard starts at a batch boundary, so it computes exactly the batches one process would).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { DataSource } from "typeorm";
import { ExportJob } from "../db/entities/export-job.entity.ts";
import { createExport, exportProgress, removeExport, shardParts, type ExportProgress } from "../db/export-shards.ts";
import { newLeaseOwner, renewLease } from "../db/job-leases.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { planRecommendationExport, RECOMMENDATION_BATCH_USERS, writeRecommendationRuns, type ExportedFile, type RecommendationLineOptions } from "./exports.ts";
import { holdLease } from "./job-queue.ts";
import type { PredictionServiceSet } from "./prediction-services.ts";

/** The most shards one export may be cut into. */
export const MAX_EXPORT_SHARDS = 64;

/** How often the asking process looks at its shards. */
const POLL_MS = 200;

/**
 * Where the shards of `users` users cut: N contiguous ranges of whole batches of `batch` users (the
 * last may be short), as equal as whole batches allow; fewer than N when there are fewer batches.
 */
export function shardBounds(o: { users: number; shards: number; batch: number }): number[] {
  const batches = Math.ceil(o.users / o.batch);
  const shards = Math.max(1, Math.min(o.shards, batches));
  const bounds = [0];
  for (let s = 1; s <= shards; s += 1) bounds.push(Math.min(o.users, Math.floor((s * batches) / shards) * o.batch));
  return bounds;
}

/** Where a sharded export stands, for progress lines. */
export interface ShardedExportProgress {
  readonly shardsDone: number;
  readonly shards: number;
}

/** How each shard of a finished export was done. */
export interface ShardSummary {
  readonly shard: number;
  readonly users: number;
  readonly lines: number;
  readonly attempts: number;
  /** The process that finished it (host:pid:random). */
  readonly owner: string;
}

/**
 * Exports every user's (or the listed users') recommendations as exportRecommendations does, cut into
 * shards that every server on the database helps to compute; this process computes shards too, so it
 * also works alone. Resolves once the file is written; a shard that fails after its last attempt fails
 * the export with its reason, and no file is written.
 */
export async function exportRecommendationsSharded(
  o: RecommendationLineOptions & {
    dataSource: DataSource;
    services: PredictionServiceSet;
    /** External user ids, or undefined for every user. */
    users?: ReadonlyArray<string>;
    out: string;
    shards: number;
    onProgress?: (progress: ShardedExportProgress) => void;
  },
): Promise<ExportedFile & { users: number; shards: ReadonlyArray<ShardSummary> }> {
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > MAX_EXPORT_SHARDS) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--shards must be a whole number from 1 to ${MAX_EXPORT_SHARDS}, got ${o.shards}.`);
  }
  const plan = await planRecommendationExport(o);
  const bounds = shardBounds({ users: plan.rows.length, shards: o.shards, batch: RECOMMENDATION_BATCH_USERS });
  // This process's own queue of shards (its services' kind): it takes shards as every server does.
  const shards = o.services.jobKinds.exportShard.service;
  const owner = newLeaseOwner();
  const leaseMs = shards.leaseMs;
  const exportId = await createExport(o.dataSource, {
    modelId: o.modelId,
    settings: { k: o.k, format: o.format, rule: o.rule ?? null, explanationWords: o.explanationWords ?? 3, users: o.users ?? null },
    userCount: plan.rows.length,
    bounds,
    owner,
    leaseMs,
  });
  let lost = false;
  const lease = holdLease({
    name: `export ${exportId}`,
    leaseMs,
    renew: () => renewLease(o.dataSource, { table: ExportJob, id: exportId, owner, leaseMs }),
    onLost: () => {
      lost = true;
    },
    onCancelRequested: () => undefined,
  });
  try {
    await shards.recover();
    const done = await waitForShards({ dataSource: o.dataSource, exportId, lost: () => lost, onProgress: o.onProgress });
    await shards.close();
    const file = await writeRecommendationRuns({ out: o.out, format: o.format, runs: shardLines(o.dataSource, done) });
    return {
      ...file,
      users: plan.rows.length,
      shards: done.shards.map((s, i) => ({ shard: s.shardIndex, users: bounds[i + 1] - bounds[i], lines: s.lines, attempts: s.attempts, owner: s.owner ?? "" })),
    };
  } finally {
    await shards.close();
    await lease.stop();
    await removeExport(o.dataSource, { id: exportId });
  }
}

/** Waits until every shard is done; a failed shard or export, or a lost lease, ends the wait with the reason. */
async function waitForShards(o: { dataSource: DataSource; exportId: number; lost: () => boolean; onProgress?: (progress: ShardedExportProgress) => void }): Promise<ExportProgress> {
  let reported = -1;
  for (;;) {
    const progress = await exportProgress(o.dataSource, o.exportId);
    const failed = progress.shards.find((s) => s.status === "failed" || s.status === "cancelled");
    if (failed !== undefined) {
      throw new UserError(ErrorCode.JOB_FAILED, `Shard ${failed.shardIndex + 1} of ${progress.shards.length} failed after ${failed.attempts} attempt(s): ${failed.error ?? "no reason recorded"}; no file was written.`);
    }
    if (progress.status !== "running" || o.lost()) {
      throw new UserError(ErrorCode.JOB_FAILED, `The export stopped: ${progress.error ?? "this process lost its hold on it (the database was unreachable longer than a job lease)"}; no file was written.`);
    }
    const doneCount = progress.shards.filter((s) => s.status === "done").length;
    if (doneCount !== reported) {
      reported = doneCount;
      o.onProgress?.({ shardsDone: doneCount, shards: progress.shards.length });
    }
    if (doneCount === progress.shards.length) return progress;
    await sleep(POLL_MS);
  }
}

/** The lines of every shard, in order: the parts of each shard's finishing attempt. */
async function* shardLines(dataSource: DataSource, progress: ExportProgress): AsyncGenerator<string> {
  for (const shard of progress.shards) yield* shardParts(dataSource, { shardId: shard.id, attempt: shard.attempts });
}
