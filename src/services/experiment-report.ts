/**
 * The tables of an experiment report from its runs (issue 11): per model, each metric's mean over
 * seeds ± its standard error, and † where a paired t-test over users (each user's value averaged over
 * the seeds) against the best other model gives p < 0.01, as the paper marks its Table 2 and Figure 4.
 */
import { pairedTTest } from "../engine/stats.ts";

/** Significance level of the † mark. */
export const SIGNIFICANCE = 0.01;

/** One finished run: a model trained with one seed and evaluated on the test split. */
export interface RunResult {
  readonly model: string;
  readonly seed: number;
  readonly modelId: number;
  /** Metric name → mean over the test users. */
  readonly means: Readonly<Record<string, number>>;
  /** Metric name → one value per test user, in the same user order for every run (NaN: no test item). */
  readonly perUser: Readonly<Record<string, ReadonlyArray<number>>>;
  /** Validation NDCG@100 per epoch. */
  readonly curve: ReadonlyArray<number>;
  /** ĉu of each test user, in perUser's order (models with a click encoder, VCM mode only). */
  readonly capacity?: ReadonlyArray<number>;
  /** Training clicks of each test user, in perUser's order (the activity cohorts are cut on). */
  readonly activity?: ReadonlyArray<number>;
  /** Coverage, ARP, APLT and novelty at 10 over the test users (VCM mode; null where undefined). */
  readonly beyondAccuracy?: Readonly<Record<"coverage" | "arp" | "aplt" | "novelty", number | null>>;
  /** Recall@20 on the head, torso and tail item cohorts (VCM mode; null without test clicks there). */
  readonly itemCohortRecall?: Readonly<Record<"head" | "torso" | "tail", number | null>>;
}

/** One cell of a results table. */
export interface ResultCell {
  readonly mean: number;
  /** Standard error of the mean over seeds (sample standard deviation / √seeds); NaN with one seed. */
  readonly standardError: number;
  /** A paired t-test over users against the best other model gives p < SIGNIFICANCE. */
  readonly significant: boolean;
  /** That test's p-value (NaN when there is no other model). */
  readonly pValue: number;
}

/** Mean and standard error of the mean of a sample. */
export function meanAndStandardError(values: ReadonlyArray<number>): { mean: number; standardError: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, standardError: Number.NaN };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  return { mean, standardError: Math.sqrt(variance / n) };
}

/** Each user's value averaged over runs (NaN stays NaN: the user has no test item). */
function averagePerUser(runs: ReadonlyArray<RunResult>, metric: string): Float64Array {
  const users = runs[0].perUser[metric].length;
  const out = new Float64Array(users);
  for (const run of runs) {
    const values = run.perUser[metric];
    for (let u = 0; u < users; u += 1) out[u] += values[u] / runs.length;
  }
  return out;
}

/**
 * metric → model → cell, for the models in the given order. The "best other model" of a model is the
 * one with the highest mean among the others.
 */
export function resultTable(options: { runs: ReadonlyArray<RunResult>; models: ReadonlyArray<string>; metrics: ReadonlyArray<string> }): Map<string, Map<string, ResultCell>> {
  const byModel = new Map(options.models.map((m) => [m, options.runs.filter((r) => r.model === m)]));
  const table = new Map<string, Map<string, ResultCell>>();
  for (const metric of options.metrics) {
    const means = new Map<string, { mean: number; standardError: number }>();
    for (const [model, runs] of byModel) if (runs.length > 0) means.set(model, meanAndStandardError(runs.map((r) => r.means[metric])));
    const row = new Map<string, ResultCell>();
    for (const [model, stats] of means) {
      let best: string | undefined;
      for (const [other, s] of means) if (other !== model && (best === undefined || s.mean > means.get(best)!.mean)) best = other;
      let pValue = Number.NaN;
      if (best !== undefined) {
        pValue = pairedTTest({ a: averagePerUser(byModel.get(model)!, metric), b: averagePerUser(byModel.get(best)!, metric) }).pValue;
      }
      row.set(model, { ...stats, pValue, significant: pValue < SIGNIFICANCE });
    }
    table.set(metric, row);
  }
  return table;
}

/** A result cell as the report prints it: 0.1234 ± 0.0012†. */
export function formatCell(cell: ResultCell | undefined): string {
  if (cell === undefined) return "–";
  const se = Number.isNaN(cell.standardError) ? "" : ` ± ${cell.standardError.toFixed(4)}`;
  return `${cell.mean.toFixed(4)}${se}${cell.significant ? "†" : ""}`;
}
