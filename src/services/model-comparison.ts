/**
 * Two READY models of one dataset compared on the same test users (issue 30, the dashboard's models
 * view): each metric's mean under both and the paper's paired t-test of model − compared, over the
 * cohort analysis's per-user evaluation (computed once per model and reused, as aliasReport does).
 */
import { pairedTTest } from "../engine/stats.ts";
import { ErrorCode, UserError } from "../errors.ts";
import type { PerUserEvaluation } from "./cohorts.ts";

/** The metrics compared, each with the per-user figures of the cohort evaluation that hold it. */
export const COMPARED_METRICS: ReadonlyArray<{ readonly metric: string; readonly key: "ndcg10" | "ndcg100" | "recall20" | "recall50" }> = Object.freeze([
  { metric: "ndcg@10", key: "ndcg10" },
  { metric: "ndcg@100", key: "ndcg100" },
  { metric: "recall@20", key: "recall20" },
  { metric: "recall@50", key: "recall50" },
]);

/** What the comparison needs to know of each model before it evaluates anything. */
export interface ComparedModelRow {
  readonly id: number;
  readonly datasetId: number;
  readonly datasetName: string;
  readonly status: string;
}

/** One metric of two models over the same test users. */
export interface MetricComparison {
  readonly metric: string;
  readonly meanModel: number;
  readonly meanCompared: number;
  /** meanModel − meanCompared. */
  readonly difference: number;
  /** Student's t of the paired differences model − compared (±Infinity when they are all equal and non-zero). */
  readonly statistic: number;
  readonly pValue: number;
  readonly df: number;
}

/** The whole comparison. */
export interface ModelComparisonReport {
  readonly modelId: number;
  readonly comparedId: number;
  /** Test users counted: those with held-out items (the same users under both models). */
  readonly users: number;
  readonly metrics: ReadonlyArray<MetricComparison>;
}

/** BAD_USER_INPUT unless the two are different READY models of one dataset. */
function checkComparable(model: ComparedModelRow, compared: ComparedModelRow): void {
  if (model.id === compared.id) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `modelId and compareTo both name model ${model.id}; compare it with another model of dataset "${model.datasetName}".`);
  }
  for (const row of [model, compared]) {
    if (row.status !== "ready") {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${row.id} is ${row.status}, not READY, so it has no test figures; compare READY models (models(status: READY) lists them).`);
    }
  }
  if (model.datasetId !== compared.datasetId) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Model ${model.id} was trained on dataset "${model.datasetName}" and model ${compared.id} on "${compared.datasetName}"; a paired test needs the same users, so compare models of the same dataset.`,
    );
  }
}

/**
 * Compares two READY models of one dataset on every COMPARED_METRICS metric with the paired t-test
 * over their test users. `evaluation` gives a model's per-user figures (the server's cached cohort
 * evaluation). BAD_USER_INPUT for the same model twice, a model that is not READY, or two datasets.
 */
export async function compareModelsOnTest(options: {
  model: ComparedModelRow;
  compared: ComparedModelRow;
  evaluation: (modelId: number) => Promise<PerUserEvaluation>;
}): Promise<ModelComparisonReport> {
  const { model, compared } = options;
  checkComparable(model, compared);
  const own = await options.evaluation(model.id);
  const other = await options.evaluation(compared.id);
  const tests = COMPARED_METRICS.map(({ metric, key }) => ({ metric, test: pairedTTest({ a: own[key], b: other[key] }) }));
  return {
    modelId: model.id,
    comparedId: compared.id,
    // Every test user has held-out items under both models, so each metric counts the same users.
    users: tests[0].test.users,
    metrics: tests.map(({ metric, test }) => ({ metric, meanModel: test.meanA, meanCompared: test.meanB, difference: test.difference, statistic: test.statistic, pValue: test.pValue, df: test.df })),
  };
}
