/**
 * Evaluating models on their dataset's test split: after training, again later, and two models
 * against each other with the paper's paired t-test over the same users.
 */
import type { DataSource } from "typeorm";
import { firstColumns, type DatasetMatrices } from "../data/csr.ts";
import type { MetricMap, TrainedModel } from "../db/entities/trained-model.entity.ts";
import { loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { evaluateRanking, type RankingEvaluation } from "../engine/evaluate.ts";
import type { Recommender } from "../engine/models/index.ts";
import { pairedTTest, type PairedComparison } from "../engine/stats.ts";
import type { PredictionMode, Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { hasTextModel, METRIC_CUTOFFS, METRIC_NAMES, parseMetric, parseMode } from "./model-names.ts";
import { assertReady, checkSameDataset, findModelRow, loadModel } from "./saved-models.ts";

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
  const train = firstColumns(matrices.train, model.numItems);
  return evaluateRanking({
    model,
    mode,
    input: mode === "vcm" ? train : matrices.words,
    heldOut: firstColumns(matrices.test, model.numItems),
    exclude: train,
    ks: METRIC_CUTOFFS,
  });
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
}): Promise<ModelEvaluation> {
  const { row, matrices, mode } = options;
  assertModeFits(row, mode);
  checkSameDataset(row, matrices);
  const loaded = await loadModel({ dataSource: options.dataSource, modelId: row.id, doing: `Evaluating model ${row.id}`, inputBytes: matricesBytes(matrices) });
  try {
    const ranking = await evaluateOnTest({ model: loaded.model, matrices, mode });
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
}): Promise<ModelEvaluation> {
  const mode = parseMode(options.mode ?? "vcm");
  const row = await findModelRow(options.dataSource, options.modelId);
  assertModeFits(row, mode);
  assertReady(row);
  const matrices = await loadDatasetMatrices(options.dataSource, row.datasetId);
  return evaluateWith({ dataSource: options.dataSource, row, matrices, mode });
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
  const a = await evaluateWith({ dataSource: options.dataSource, row: rowA, matrices, mode: modeA });
  const b = await evaluateWith({ dataSource: options.dataSource, row: rowB, matrices, mode: modeB });
  const test = pairedTTest({ a: a.ranking.perUser[metric], b: b.ranking.perUser[metric] });
  return {
    ...test,
    metric,
    modelA: { id: a.modelId, variant: a.variant, mode: a.mode },
    modelB: { id: b.modelId, variant: b.variant, mode: b.mode },
    datasetName: a.datasetName,
  };
}
