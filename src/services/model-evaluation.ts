/**
 * Evaluating models on their dataset's test split: after training, again later, and two models
 * against each other with the paper's paired t-test over the same users.
 */
import type { DataSource } from "typeorm";
import { firstColumns, type CsrMatrix, type DatasetMatrices } from "../data/csr.ts";
import type { MetricMap, TrainedModel } from "../db/entities/trained-model.entity.ts";
import { loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { evaluateRanking, type RankingEvaluation } from "../engine/evaluate.ts";
import { meanDefined } from "../engine/metrics.ts";
import type { Recommender } from "../engine/models/index.ts";
import { pairedTTest, type PairedComparison } from "../engine/stats.ts";
import type { PredictionMode, Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { hasTextModel, METRIC_CUTOFFS, METRIC_NAMES, parseMetric, parseMode } from "./model-names.ts";
import { assertReady, checkSameDataset, findModelRow, loadModel } from "./saved-models.ts";
import type { ExportShardService } from "./export-shard-jobs.ts";
import { assertSameUsers, decodeUsersLines, encodeUsersLine, runShardedPass, type PerUserArray, type ShardedPassProgress, type ShardRange } from "./sharded-pass.ts";

/** Metrics of one evaluation with the per-user values kept for comparisons. */
export interface ModelEvaluation {
  readonly modelId: number;
  readonly datasetName: string;
  readonly variant: Variant;
  readonly mode: PredictionMode;
  /** Users with held-out test items (the users the means are over). */
  readonly users: number;
  /** ndcg@10 … recall@100 means over those users. */
  readonly metrics: MetricMap;
  readonly ranking: RankingEvaluation;
}

/**
 * Ranks the model's items for every user with test items from the training clicks (vcm) or the bag of
 * words (vcm-cd), excluding the user's training clicks, and scores the test clicks. Items appended
 * after the model was trained are left out of its input, its ranking and the held-out clicks alike.
 */
export async function evaluateOnTest(options: { model: Recommender; matrices: DatasetMatrices; mode: PredictionMode }): Promise<RankingEvaluation> {
  const { model, matrices, mode } = options;
  if (mode === "vcm-cd" && !hasTextModel(model.variant)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "The popularity baseline has no text model, so it has no vcm-cd mode; use --mode vcm.");
  }
  return evaluateRanking({ model, mode, ...testMatrices({ matrices, numItems: model.numItems, mode }), ks: METRIC_CUTOFFS });
}

/** What a test evaluation ranks from, scores against and excludes, over the model's first `numItems` items. */
function testMatrices(o: { matrices: DatasetMatrices; numItems: number; mode: PredictionMode }): { input: CsrMatrix; heldOut: CsrMatrix; exclude: CsrMatrix } {
  const train = firstColumns(o.matrices.train, o.numItems);
  return { input: o.mode === "vcm" ? train : o.matrices.words, heldOut: firstColumns(o.matrices.test, o.numItems), exclude: train };
}

/** The rows a test evaluation scores (those with held-out items), in order: the users a sharded one cuts. */
function scoredRows(heldOut: CsrMatrix): number[] {
  const rows: number[] = [];
  for (let r = 0; r < heldOut.rows; r += 1) if (heldOut.indptr[r + 1] > heldOut.indptr[r]) rows.push(r);
  return rows;
}

/** The per-user arrays of a test evaluation over `users` scored users: each metric, and the top lists. */
function scoredArrays(users: number): Record<string, PerUserArray> {
  const arrays: Record<string, PerUserArray> = Object.fromEntries(METRIC_NAMES.map((name) => [name, { values: new Float64Array(users), width: 1 }]));
  arrays.top = { values: new Int32Array(users * MAX_CUTOFF).fill(-1), width: MAX_CUTOFF };
  return arrays;
}

/** The longest list a test evaluation keeps. */
const MAX_CUTOFF = Math.max(...METRIC_CUTOFFS);

/**
 * evaluateOnTest as a pass over users split into shards (sharded-pass.ts): the scored users are cut at
 * whole batches of the model's evalBatchSize, so each shard ranks exactly the batches evaluateOnTest
 * does, and the per-user values, their means and the top lists are equal to its.
 */
async function evaluateOnTestSharded(o: { dataSource: DataSource; sharded: ShardedEvaluation; modelId: number; numItems: number; batch: number; matrices: DatasetMatrices; mode: PredictionMode }): Promise<RankingEvaluation> {
  const { heldOut } = testMatrices(o);
  const rows = scoredRows(heldOut);
  const arrays = scoredArrays(rows.length);
  await runShardedPass({
    dataSource: o.dataSource,
    queue: o.sharded.queue,
    modelId: o.modelId,
    settings: { pass: "testEvaluation", mode: o.mode },
    userCount: rows.length,
    batch: o.batch,
    shards: o.sharded.shards,
    failed: "nothing was evaluated",
    onProgress: o.sharded.onProgress,
    collect: (runs) => decodeUsersLines({ runs, arrays }),
  });
  // Every row in place, NaN where it has no held-out item, as evaluateRanking keeps them.
  const perUser: Record<string, Float64Array> = {};
  for (const name of METRIC_NAMES) {
    const values = new Float64Array(heldOut.rows).fill(Number.NaN);
    rows.forEach((r, j) => (values[r] = arrays[name].values[j]));
    perUser[name] = values;
  }
  const top = new Int32Array(heldOut.rows * MAX_CUTOFF).fill(-1);
  rows.forEach((r, j) => top.set(arrays.top.values.subarray(j * MAX_CUTOFF, (j + 1) * MAX_CUTOFF), r * MAX_CUTOFF));
  const means: Record<string, number> = {};
  for (const [key, values] of Object.entries(perUser)) means[key] = meanDefined(values);
  return { rows: Int32Array.from({ length: heldOut.rows }, (_, r) => r), perUser, means, top, topStride: MAX_CUTOFF };
}

/** The lines of one shard of a test evaluation (scored users [first, end)), one per batch of the model's evalBatchSize. */
export async function* testEvaluationShardLines(o: { dataSource: DataSource; mode: string; modelsDir?: string; range: ShardRange }): AsyncGenerator<ReadonlyArray<string>> {
  const { range } = o;
  const mode = parseMode(o.mode);
  const row = await findModelRow(o.dataSource, range.modelId);
  const matrices = await loadDatasetMatrices(o.dataSource, row.datasetId);
  const loaded = await loadModel({ dataSource: o.dataSource, modelId: row.id, modelsDir: o.modelsDir, doing: `Evaluating model ${row.id}`, inputBytes: matricesBytes(matrices) });
  try {
    const { model } = loaded;
    const ranked = testMatrices({ matrices, numItems: model.numItems, mode });
    const rows = scoredRows(ranked.heldOut);
    assertSameUsers({ range, counted: rows.length });
    const arrays = scoredArrays(rows.length);
    const batch = model.config.evalBatchSize;
    for (let start = range.first; start < range.end; start += batch) {
      const end = Math.min(range.end, start + batch);
      const ranking = await evaluateRanking({ model, mode, ...ranked, ks: METRIC_CUTOFFS, rows: rows.slice(start, end) });
      for (const name of METRIC_NAMES) arrays[name].values.set(ranking.perUser[name], start);
      arrays.top.values.set(ranking.top, start * MAX_CUTOFF);
      yield [encodeUsersLine({ arrays, start, end })];
    }
  } finally {
    loaded.model.dispose();
  }
}

/** How an evaluation is split into shards: this process's queue and the count. */
export interface ShardedEvaluation {
  readonly queue: ExportShardService;
  readonly shards: number;
  readonly onProgress?: (progress: ShardedPassProgress) => void;
}

/** The means of an evaluation under the metric names. */
export function metricMap(ranking: RankingEvaluation): MetricMap {
  return Object.fromEntries(METRIC_NAMES.map((name) => [name, ranking.means[name]]));
}

function countDefined(values: Float64Array): number {
  let n = 0;
  for (const v of values) if (Number.isFinite(v)) n += 1;
  return n;
}

/** BAD_USER_INPUT when a saved model cannot be evaluated in the mode asked for (vcm-cd needs a text model). */
function assertModeFits(row: TrainedModel, mode: PredictionMode): void {
  if (mode === "vcm-cd" && !hasTextModel(row.variant as Variant)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${row.id} is the popularity baseline, which has no text model and so no vcm-cd mode; use --mode vcm.`);
  }
}

/** Evaluates one saved model on already loaded matrices of its dataset. */
async function evaluateWith(options: {
  dataSource: DataSource;
  row: TrainedModel;
  matrices: DatasetMatrices;
  mode: PredictionMode;
  sharded?: ShardedEvaluation;
}): Promise<ModelEvaluation> {
  const { row, matrices, mode, sharded } = options;
  assertModeFits(row, mode);
  checkSameDataset(row, matrices);
  const loaded = await loadModel({ dataSource: options.dataSource, modelId: row.id, doing: `Evaluating model ${row.id}`, inputBytes: matricesBytes(matrices) });
  try {
    const ranking =
      sharded === undefined
        ? await evaluateOnTest({ model: loaded.model, matrices, mode })
        : await evaluateOnTestSharded({ dataSource: options.dataSource, sharded, modelId: row.id, numItems: loaded.model.numItems, batch: loaded.model.config.evalBatchSize, matrices, mode });
    return {
      modelId: row.id,
      datasetName: matrices.name,
      variant: loaded.variant,
      mode,
      users: countDefined(ranking.perUser["ndcg@10"]),
      metrics: metricMap(ranking),
      ranking,
    };
  } finally {
    loaded.model.dispose();
  }
}

/** Bytes of the click and word matrices of a loaded dataset (what evaluation reads beside the model). */
function matricesBytes(m: DatasetMatrices): number {
  return [m.train, m.validation, m.test, m.words].reduce((sum, c) => sum + c.indptr.byteLength + c.indices.byteLength + c.values.byteLength, 0);
}

/** Re-evaluates a saved model on its dataset's test split. */
export async function evaluateSavedModel(options: {
  dataSource: DataSource;
  modelId: number;
  mode?: PredictionMode | string;
  /** Split the ranking into shards that every server on the database computes (same figures). */
  sharded?: ShardedEvaluation;
}): Promise<ModelEvaluation> {
  const mode = parseMode(options.mode ?? "vcm");
  const row = await findModelRow(options.dataSource, options.modelId);
  assertModeFits(row, mode);
  assertReady(row);
  const matrices = await loadDatasetMatrices(options.dataSource, row.datasetId);
  return evaluateWith({ dataSource: options.dataSource, row, matrices, mode, sharded: options.sharded });
}

/** Two models compared on one metric over the same users. */
export interface ModelComparison extends PairedComparison {
  readonly metric: string;
  readonly modelA: { readonly id: number; readonly variant: Variant; readonly mode: PredictionMode };
  readonly modelB: { readonly id: number; readonly variant: Variant; readonly mode: PredictionMode };
  readonly datasetName: string;
}

/**
 * Evaluates two models of the same dataset on its test split and runs the paper's paired t-test on a
 * metric over the users that have held-out items under both.
 */
export async function compareModels(options: {
  dataSource: DataSource;
  modelA: number;
  modelB: number;
  metric?: string;
  modeA?: PredictionMode | string;
  modeB?: PredictionMode | string;
  /** Split each model's ranking into shards that every server on the database computes (same figures). */
  sharded?: ShardedEvaluation;
}): Promise<ModelComparison> {
  const metric = parseMetric(options.metric ?? "ndcg@10");
  const [rowA, rowB] = [await findModelRow(options.dataSource, options.modelA), await findModelRow(options.dataSource, options.modelB)];
  if (rowA.datasetId !== rowB.datasetId) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Models ${rowA.id} and ${rowB.id} were trained on different datasets ("${rowA.dataset.name}" and "${rowB.dataset.name}"); a paired test needs the same users.`,
    );
  }
  const [modeA, modeB] = [parseMode(options.modeA ?? "vcm"), parseMode(options.modeB ?? "vcm")];
  assertReady(rowA);
  assertReady(rowB);
  const matrices = await loadDatasetMatrices(options.dataSource, rowA.datasetId);
  const a = await evaluateWith({ dataSource: options.dataSource, row: rowA, matrices, mode: modeA, sharded: options.sharded });
  const b = await evaluateWith({ dataSource: options.dataSource, row: rowB, matrices, mode: modeB, sharded: options.sharded });
  const test = pairedTTest({ a: a.ranking.perUser[metric], b: b.ranking.perUser[metric] });
  return {
    ...test,
    metric,
    modelA: { id: a.modelId, variant: a.variant, mode: a.mode },
    modelB: { id: b.modelId, variant: b.variant, mode: b.mode },
    datasetName: a.datasetName,
  };
}
