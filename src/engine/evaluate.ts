/**
 * Ranking evaluation: scores users in batches, excludes their training clicks, and keeps NDCG@R and
 * Recall@R per user (NaN for users without held-out items) so cohorts and paired tests can use them.
 */
import type { CsrMatrix } from "../data/csr.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { meanDefined, ndcgAt, recallAt } from "./metrics.ts";
import type { Recommender } from "./models/recommender.ts";
import type { PredictionMode } from "./types.ts";

export interface RankingEvaluation {
  /** The evaluated rows, in the order of the per-user arrays. */
  readonly rows: Int32Array;
  /** "ndcg@10", "recall@20", … → one value per row; NaN where the row has no held-out item. */
  readonly perUser: Record<string, Float64Array>;
  /** Mean of each metric over the rows that have held-out items. */
  readonly means: Record<string, number>;
  /** Each row's ranking, max R entries per row (−1 past its end, and for rows without held-out items): beyond-accuracy metrics read it. */
  readonly top: Int32Array;
  /** Entries per row of `top` (the largest R). */
  readonly topStride: number;
}

/**
 * Ranks all items for each row from `input` (clicks for "vcm", words for "vcm-cd"), skipping the row's
 * entries in `exclude` (its training clicks), and compares the top R with the row's entries in `heldOut`.
 */
export async function evaluateRanking(options: {
  model: Recommender;
  mode: PredictionMode;
  input: CsrMatrix;
  heldOut: CsrMatrix;
  exclude: CsrMatrix;
  ks: ReadonlyArray<number>;
  rows?: ReadonlyArray<number>;
}): Promise<RankingEvaluation> {
  const { model, mode, input, heldOut, exclude, ks } = options;
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k <= 0)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "each cutoff R must be a positive integer");
  }
  if (heldOut.cols !== model.numItems || exclude.cols !== model.numItems) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `held-out and excluded clicks must have ${model.numItems} item columns`);
  }
  const rows = Int32Array.from(options.rows ?? Array.from({ length: heldOut.rows }, (_, r) => r));
  const perUser: Record<string, Float64Array> = {};
  for (const k of ks) {
    perUser[`ndcg@${k}`] = new Float64Array(rows.length).fill(Number.NaN);
    perUser[`recall@${k}`] = new Float64Array(rows.length).fill(Number.NaN);
  }
  // Only rows with held-out items are scored; the others stay NaN.
  const scored: number[] = [];
  rows.forEach((r, j) => {
    if (heldOut.indptr[r + 1] > heldOut.indptr[r]) scored.push(j);
  });
  const maxK = Math.max(...ks);
  const kept = new Int32Array(rows.length * maxK).fill(-1);
  const chunk = model.config.evalBatchSize;
  for (let start = 0; start < scored.length; start += chunk) {
    const positions = scored.slice(start, start + chunk);
    const top = await model.topItems({ input: { matrix: input, rows: positions.map((j) => rows[j]) }, mode, k: maxK, exclude });
    positions.forEach((j, b) => {
      const r = rows[j];
      const row = top.subarray(b * maxK, (b + 1) * maxK);
      kept.set(row, j * maxK);
      const end = row.indexOf(-1);
      const ranked = end === -1 ? row : row.subarray(0, end);
      const truth = new Set(heldOut.indices.subarray(heldOut.indptr[r], heldOut.indptr[r + 1]));
      for (const k of ks) {
        perUser[`ndcg@${k}`][j] = ndcgAt({ ranked, heldOut: truth, r: k });
        perUser[`recall@${k}`][j] = recallAt({ ranked, heldOut: truth, r: k });
      }
    });
  }
  const means: Record<string, number> = {};
  for (const [key, values] of Object.entries(perUser)) means[key] = meanDefined(values);
  return { rows, perUser, means, top: kept, topStride: maxK };
}
