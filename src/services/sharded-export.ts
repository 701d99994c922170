/**
 * `vcm export recommendations --shards N`: the export as a pass over users split into shards
 * (sharded-pass.ts); the asking process writes the file from the shards' lines in order, equal byte
 * for byte to a single process's export.
 */
import type { DataSource } from "typeorm";
import type { ExportSettings } from "../db/entities/export-job.entity.ts";
import type { ExplanationRule } from "../engine/explanation-rules.ts";
import { planRecommendationExport, RECOMMENDATION_BATCH_USERS, recommendationLines, recommendationTitles, writeRecommendationRuns, type ExportedFile, type RecommendationLineOptions } from "./exports.ts";
import type { PredictionServiceSet } from "./prediction-services.ts";
import { assertSameUsers, runShardedPass, validateShards, type ShardedPassProgress, type ShardRange, type ShardSummary } from "./sharded-pass.ts";

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
    onProgress?: (progress: ShardedPassProgress) => void;
  },
): Promise<ExportedFile & { users: number; shards: ReadonlyArray<ShardSummary> }> {
  validateShards({ shards: o.shards });
  const plan = await planRecommendationExport(o);
  const { result, shards } = await runShardedPass({
    dataSource: o.dataSource,
    queue: o.services.jobKinds.exportShard.service,
    closeQueueWhenDone: true,
    modelId: o.modelId,
    settings: { pass: "recommendations", k: o.k, format: o.format, rule: o.rule ?? null, explanationWords: o.explanationWords ?? 3, users: o.users ?? null },
    userCount: plan.rows.length,
    batch: RECOMMENDATION_BATCH_USERS,
    shards: o.shards,
    failed: "no file was written",
    onProgress: o.onProgress,
    collect: (runs) => writeRecommendationRuns({ out: o.out, format: o.format, runs }),
  });
  return { ...result, users: plan.rows.length, shards };
}

/** The lines of one shard of an export (users [first, end) of its plan), batch by batch, as a single export computes them. */
export async function* recommendationShardLines(o: { services: PredictionServiceSet; dataSource: DataSource; settings: ExportSettings; range: ShardRange }): AsyncGenerator<ReadonlyArray<string>> {
  const { settings, range } = o;
  const plan = await planRecommendationExport({ services: o.services, modelId: range.modelId, users: settings.users ?? undefined });
  assertSameUsers({ range, counted: plan.rows.length });
  const meta = await recommendationTitles(o.dataSource, plan);
  const batches = recommendationLines({
    services: o.services,
    modelId: range.modelId,
    k: settings.k,
    format: settings.format,
    rule: (settings.rule ?? undefined) as ExplanationRule | undefined,
    explanationWords: settings.explanationWords,
    plan,
    meta,
    first: range.first,
    end: range.end,
  });
  for await (const batch of batches) yield batch.lines;
}
