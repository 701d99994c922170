/**
 * A pass over users split into shards, the one owner of batch scoring over every instance: the users
 * of a pass (an export's, or a cohort or test evaluation's) are cut into N contiguous shards of whole
 * batches, each a job of the one job queue (export-shard-jobs.ts), so every server on the database
 * takes its share in its worker (export-shard-worker.ts, which computes the pass its settings name),
 * and the asking process takes shards too (alone, it does them all). Each shard's lines go to the
 * database; the asking process reads them back in order into the pass's result. A shard starts at a
 * batch boundary, so it computes exactly the batches one process would, and the result equals a
 * single process's.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { DataSource } from "typeorm";
import { ExportJob, type ShardedPassSettings } from "../db/entities/export-job.entity.ts";
import { createExport, exportProgress, removeExport, shardParts, type ExportProgress } from "../db/export-shards.ts";
import { newLeaseOwner, renewLease } from "../db/job-leases.ts";
import { ErrorCode, UserError } from "../errors.ts";
import type { ExportShardService } from "./export-shard-jobs.ts";
import { holdLease } from "./job-queue.ts";

/** The most shards one pass may be cut into. */
export const MAX_SHARDS = 64;

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

/** Rejects a shard count that is not a whole number from 1 to MAX_SHARDS (`name`: the flag or variable that gave it). */
export function validateShards(o: { shards: number; name?: string }): number {
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > MAX_SHARDS) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${o.name ?? "--shards"} must be a whole number from 1 to ${MAX_SHARDS}, got ${o.shards}.`);
  }
  return o.shards;
}

/** Where a sharded pass stands, for progress lines. */
export interface ShardedPassProgress {
  readonly shardsDone: number;
  readonly shards: number;
}

/** How each shard of a finished pass was done. */
export interface ShardSummary {
  readonly shard: number;
  readonly users: number;
  readonly lines: number;
  readonly attempts: number;
  /** The process that finished it (host:pid:random). */
  readonly owner: string;
}

/**
 * Runs a pass over `userCount` users cut into `shards` shards of whole batches of `batch`, computed by
 * every server on the database and by this process's own queue; `collect` reads the shards' lines, in
 * order, into the pass's result before the pass's rows are deleted. A shard that fails after its last
 * attempt fails the pass with its reason (`JOB_FAILED`, `failed` saying what is then not done).
 */
export async function runShardedPass<T>(o: {
  dataSource: DataSource;
  /** This process's queue of shards (its services' jobKinds.exportShard.service). */
  queue: ExportShardService;
  /** Stop this process's queue once every shard is done (an export, before it writes its file); else its owner closes it. */
  closeQueueWhenDone?: boolean;
  modelId: number;
  settings: ShardedPassSettings;
  userCount: number;
  batch: number;
  shards: number;
  /** What is not done when the pass fails, e.g. "no file was written". */
  failed: string;
  onProgress?: (progress: ShardedPassProgress) => void;
  collect: (runs: AsyncIterable<string>) => Promise<T>;
}): Promise<{ result: T; shards: ReadonlyArray<ShardSummary> }> {
  const bounds = shardBounds({ users: o.userCount, shards: validateShards({ shards: o.shards }), batch: o.batch });
  const owner = newLeaseOwner();
  const leaseMs = o.queue.leaseMs;
  const passId = await createExport(o.dataSource, { modelId: o.modelId, settings: o.settings, userCount: o.userCount, bounds, owner, leaseMs });
  let lost = false;
  const lease = holdLease({
    name: `sharded pass ${passId}`,
    leaseMs,
    renew: () => renewLease(o.dataSource, { table: ExportJob, id: passId, owner, leaseMs }),
    onLost: () => {
      lost = true;
    },
    onCancelRequested: () => undefined,
  });
  try {
    await o.queue.recover();
    const done = await waitForShards({ dataSource: o.dataSource, passId, lost: () => lost, failed: o.failed, onProgress: o.onProgress });
    if (o.closeQueueWhenDone === true) await o.queue.close();
    const result = await o.collect(shardLines(o.dataSource, done));
    return {
      result,
      shards: done.shards.map((s, i) => ({ shard: s.shardIndex, users: bounds[i + 1] - bounds[i], lines: s.lines, attempts: s.attempts, owner: s.owner ?? "" })),
    };
  } finally {
    if (o.closeQueueWhenDone === true) await o.queue.close();
    await lease.stop();
    await removeExport(o.dataSource, { id: passId });
  }
}

/** Waits until every shard is done; a failed shard or pass, or a lost lease, ends the wait with the reason. */
async function waitForShards(o: { dataSource: DataSource; passId: number; lost: () => boolean; failed: string; onProgress?: (progress: ShardedPassProgress) => void }): Promise<ExportProgress> {
  let reported = -1;
  for (;;) {
    const progress = await exportProgress(o.dataSource, o.passId);
    const failed = progress.shards.find((s) => s.status === "failed" || s.status === "cancelled");
    if (failed !== undefined) {
      throw new UserError(ErrorCode.JOB_FAILED, `Shard ${failed.shardIndex + 1} of ${progress.shards.length} failed after ${failed.attempts} attempt(s): ${failed.error ?? "no reason recorded"}; ${o.failed}.`);
    }
    if (progress.status !== "running" || o.lost()) {
      throw new UserError(ErrorCode.JOB_FAILED, `The sharded pass stopped: ${progress.error ?? "this process lost its hold on it (the database was unreachable longer than a job lease)"}; ${o.failed}.`);
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

/** What a shard's worker computes: users [first, end) of a pass of `userCount` users of a model. */
export interface ShardRange {
  readonly modelId: number;
  readonly first: number;
  readonly end: number;
  readonly userCount: number;
}

/**
 * Refuses a shard whose worker counts another number of users than the asking process did: the
 * dataset changed between them (an append), so positions would name other users.
 */
export function assertSameUsers(o: { range: ShardRange; counted: number }): void {
  if (o.counted !== o.range.userCount) {
    throw new UserError(ErrorCode.CONFLICT, `The dataset changed while the sharded pass ran (${o.range.userCount} users when it started, ${o.counted} now); run it again.`);
  }
}

/** A typed array of a pass's result with its values per user, which a shard's lines fill range by range. */
export interface PerUserArray {
  readonly values: Float64Array | Int32Array;
  /** Values per user (1, or a top list's length). */
  readonly width: number;
}

/**
 * One line of a shard of an evaluation pass: the values of users [start, end) of each named array, as
 * base64 of their bytes, so every number (NaN included) comes back bit for bit.
 */
export function encodeUsersLine(o: { arrays: Readonly<Record<string, PerUserArray>>; start: number; end: number }): string {
  const line: Record<string, number | string> = { start: o.start, end: o.end };
  for (const [name, { values, width }] of Object.entries(o.arrays)) {
    const part = values.subarray(o.start * width, o.end * width);
    line[name] = Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString("base64");
  }
  return JSON.stringify(line);
}

/** Reads the lines encodeUsersLine wrote (runs of whole lines, in any order) into the same named arrays. */
export async function decodeUsersLines(o: { runs: AsyncIterable<string>; arrays: Readonly<Record<string, PerUserArray>> }): Promise<void> {
  for await (const run of o.runs) {
    for (const text of run.split("\n")) {
      if (text === "") continue;
      const line = JSON.parse(text) as Record<string, number | string>;
      for (const [name, { values, width }] of Object.entries(o.arrays)) {
        const bytes = Buffer.from(line[name] as string, "base64");
        const Kind = values instanceof Float64Array ? Float64Array : Int32Array;
        // Copied out of the Buffer's pool, whose offset need not be aligned to the element size.
        const decoded = new Kind(new Uint8Array(bytes).buffer);
        values.set(decoded, (line.start as number) * width);
      }
    }
  }
}
