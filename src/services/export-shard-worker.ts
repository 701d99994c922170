/**
 * The worker process of one shard of a pass over users split into shards (sharded-pass.ts,
 * export-shard-jobs.ts): computes the lines of its users exactly as a single pass does (an export's,
 * sharded-export.ts; a cohort evaluation's, sharded-cohorts.ts; a test evaluation's,
 * model-evaluation.ts) and stores them in the database part by part under its attempt, then marks the
 * shard done, all conditional on the process that claimed it. Forked through the job queue
 * (job-queue.ts) with tsx registered; its one argument is the ExportShardSpec as JSON.
 */
import "reflect-metadata";
import { retryWhileBusyOrUnavailable } from "../db/busy.ts";
import { openDatabase } from "../db/data-source.ts";
import { endShardAttempt, finishShard, shardToRun, writeShardPart } from "../db/export-shards.ts";
import { loadAppConfig } from "../config.ts";
import { UserError } from "../errors.ts";
import type { DataSource } from "typeorm";
import type { ShardedPassSettings } from "../db/entities/export-job.entity.ts";
import type { JobCancel } from "./job-queue.ts";
import { testEvaluationShardLines } from "./model-evaluation.ts";
import { createPredictionServices, type PredictionServiceSet } from "./prediction-services.ts";
import { recommendationShardLines } from "./sharded-export.ts";
import { cohortShardLines } from "./sharded-cohorts.ts";
import type { ShardRange } from "./sharded-pass.ts";
import { MAX_SHARD_ATTEMPTS, SHARD_PART_BYTES, type ExportShardSpec } from "./export-shard-jobs.ts";

async function run(spec: ExportShardSpec): Promise<number> {
  let cancelled = false;
  process.on("message", (message: JobCancel) => {
    if (message.type === "cancel") cancelled = true;
  });
  const dataSource = await retryWhileBusyOrUnavailable(() => openDatabase(spec.dbPath));
  const services = createPredictionServices({ dataSource, config: loadAppConfig({ dbPath: spec.dbPath, modelsDir: spec.modelsDir }) });
  try {
    const { shard, modelId, userCount, settings } = await shardToRun(dataSource, spec.shardId);
    let part = "";
    let seq = 0;
    let lines = 0;
    const store = async () => {
      if (part === "") return;
      await writeShardPart(dataSource, { shardId: spec.shardId, attempt: spec.attempt, seq, body: part });
      seq += 1;
      part = "";
    };
    const range: ShardRange = { modelId, first: shard.firstPosition, end: shard.endPosition, userCount };
    for await (const batch of passLines({ settings, services, dataSource, modelsDir: spec.modelsDir, range })) {
      // Stopped between batches: the queue that asked records the shard as cancelled.
      if (cancelled) return 1;
      for (const line of batch) part += `${line}\n`;
      lines += batch.length;
      if (part.length >= SHARD_PART_BYTES) await store();
    }
    await store();
    if (!(await finishShard(dataSource, { id: spec.shardId, owner: spec.owner, attempt: spec.attempt, lines }))) {
      console.error(`shard ${spec.shardId}: another process took it over after this one's lease ran out; its lines are left unused`);
    }
    return 0;
  } catch (error) {
    if (error instanceof UserError) {
      // No retry mends a model or user that is not there: the shard, and its export, fail with the sentence.
      await endShardAttempt(dataSource, { id: spec.shardId, owner: spec.owner, error: error.message, maxAttempts: MAX_SHARD_ATTEMPTS, final: true });
      console.error(`shard ${spec.shardId}: ${error.message}`);
      return 1;
    }
    console.error(`shard ${spec.shardId} failed`, error);
    return 1;
  } finally {
    await services.close();
    await dataSource.destroy();
  }
}

/** The lines of a shard of the pass its settings name, batch by batch. */
function passLines(o: {
  settings: ShardedPassSettings;
  services: PredictionServiceSet;
  dataSource: DataSource;
  modelsDir: string;
  range: ShardRange;
}): AsyncGenerator<ReadonlyArray<string>> {
  const { settings } = o;
  switch (settings.pass) {
    case "recommendations":
      return recommendationShardLines({ services: o.services, dataSource: o.dataSource, settings, range: o.range });
    case "cohortEvaluation":
      return cohortShardLines({ inference: o.services.inference, range: o.range });
    case "testEvaluation":
      return testEvaluationShardLines({ dataSource: o.dataSource, modelsDir: o.modelsDir, mode: settings.mode, range: o.range });
    default: {
      const never: never = settings;
      throw new Error(`unknown sharded pass ${JSON.stringify(never)}`);
    }
  }
}

/** The process that started this worker is gone: the shard stays running under its name, and another process queues it again. */
function parentGone(): void {
  console.error(`shard ${spec.shardId}: the process that started it is gone; stopping (another process retries the shard)`);
  process.exit(1);
}

const spec = JSON.parse(process.argv[2] ?? "{}") as ExportShardSpec;
process.once("disconnect", parentGone);
process.exitCode = await run(spec);
// The IPC channel would keep the process alive; the shard is over, so leave (this disconnect is not the parent's).
process.off("disconnect", parentGone);
if (process.connected) process.disconnect();
