/**
 * The cohort evaluation (every test user's capacity, NDCG@10 and @100, Recall@20 and @50 and top list, cohorts.ts) as
 * a pass over users split into shards (sharded-pass.ts): the test users are cut at whole batches of
 * COHORT_BATCH_USERS, so each shard ranks exactly the batches one process would and the figures, and
 * every cohort, aliasReport and per-user export built on them, equal the single pass's.
 */
import type { DataSource } from "typeorm";
import { COHORT_BATCH_USERS, cohortEvaluationFrame, evaluateTestUsers, ITEM_COHORT_K, type PerUserEvaluation, type ShardedCohortEvaluation } from "./cohorts.ts";
import type { ExportShardService } from "./export-shard-jobs.ts";
import type { InferenceService } from "./inference.ts";
import { assertSameUsers, decodeUsersLines, encodeUsersLine, runShardedPass, type PerUserArray, type ShardedPassProgress, type ShardRange } from "./sharded-pass.ts";

/** The arrays a shard of a cohort evaluation fills. */
function rankedArrays(evaluation: PerUserEvaluation): Record<string, PerUserArray> {
  return {
    capacity: { values: evaluation.capacity, width: 1 },
    ndcg10: { values: evaluation.ndcg10, width: 1 },
    recall20: { values: evaluation.recall20, width: 1 },
    ndcg100: { values: evaluation.ndcg100, width: 1 },
    recall50: { values: evaluation.recall50, width: 1 },
    top: { values: evaluation.top.items, width: ITEM_COHORT_K },
  };
}

/**
 * The cohort evaluation of a model over `shards` shards computed by every server on the database and
 * by this process's queue (which its services close).
 */
export function shardedCohortEvaluation(o: {
  dataSource: DataSource;
  inference: InferenceService;
  queue: ExportShardService;
  shards: number;
  onProgress?: (progress: ShardedPassProgress) => void;
}): ShardedCohortEvaluation {
  return async (modelId) => {
    const { frame, datasetId } = await o.inference.using(modelId, async (loaded, dataset) => ({ frame: cohortEvaluationFrame(loaded, dataset), datasetId: loaded.datasetId }));
    const { evaluation } = frame;
    await runShardedPass({
      dataSource: o.dataSource,
      queue: o.queue,
      modelId,
      settings: { pass: "cohortEvaluation" },
      userCount: evaluation.rows.length,
      batch: COHORT_BATCH_USERS,
      shards: o.shards,
      failed: "no figures were computed",
      onProgress: o.onProgress,
      collect: (runs) => decodeUsersLines({ runs, arrays: rankedArrays(evaluation) }),
    });
    return { evaluation, datasetId };
  };
}

/** The lines of one shard of a cohort evaluation (test users [first, end)), one per batch. */
export async function* cohortShardLines(o: { inference: InferenceService; range: ShardRange }): AsyncGenerator<ReadonlyArray<string>> {
  const { range } = o;
  const { loaded, dataset } = await o.inference.modelWithDataset(range.modelId);
  const frame = cohortEvaluationFrame(loaded, dataset);
  assertSameUsers({ range, counted: frame.evaluation.rows.length });
  const arrays = rankedArrays(frame.evaluation);
  for await (const batch of evaluateTestUsers({ loaded, frame, first: range.first, end: range.end })) yield [encodeUsersLine({ arrays, ...batch })];
}
