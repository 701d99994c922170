/**
 * The columns of a sampled softmax (issue 27, item 3; docs/model.md "Sampled softmax"): which items
 * (words) a training step scores instead of all of them, and the logQ correction of each. The batch's
 * positives (the union of its users' clicked items, or used words) are always scored exactly; N
 * negatives are drawn with replacement from a proposal q, those that are positives of the batch are
 * dropped, and each distinct drawn column j, drawn c_j times, enters the softmax with its logit minus
 * log(N · q_j / c_j). Then Σ over the columns of exp(corrected logit) is an unbiased estimate of the
 * full softmax's normaliser Σ_j exp(logit_j): the positives' part exactly, the rest by importance sampling.
 */
import type { SparseBatch } from "../../batch.ts";
import type { CsrMatrix } from "../../../data/csr.ts";
import type { SampledProposal } from "../../config-fields.ts";
import type { Rng } from "../../random.ts";

/** A distribution q over the columns of one decoder's softmax. */
export interface Proposal {
  readonly columns: number;
  /** Cumulative weights of the columns (popularity), or undefined for the uniform proposal. */
  readonly cumulative: Float64Array | undefined;
}

/** The proposal of `kind` over the columns of `matrix`: uniform, or each column's total value (its training count) plus one. */
export function proposalOf(o: { kind: SampledProposal; matrix: CsrMatrix }): Proposal {
  const { matrix } = o;
  if (o.kind === "uniform") return { columns: matrix.cols, cumulative: undefined };
  const weights = new Float64Array(matrix.cols).fill(1);
  const end = matrix.indptr[matrix.rows];
  for (let k = 0; k < end; k += 1) weights[matrix.indices[k]] += matrix.values[k];
  for (let j = 1; j < weights.length; j += 1) weights[j] += weights[j - 1];
  return { columns: matrix.cols, cumulative: weights };
}

/** q_j. */
export function proposalProbability(proposal: Proposal, column: number): number {
  const c = proposal.cumulative;
  if (c === undefined) return 1 / proposal.columns;
  return (c[column] - (column === 0 ? 0 : c[column - 1])) / c[c.length - 1];
}

/** One column drawn from q (a binary search over the cumulative weights for popularity). */
export function drawColumn(proposal: Proposal, rng: Rng): number {
  const c = proposal.cumulative;
  if (c === undefined) return Math.min(proposal.columns - 1, Math.floor(rng.next() * proposal.columns));
  const u = rng.next() * c[c.length - 1];
  let lo = 0;
  let hi = c.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The columns one step scores, their corrections and the target renumbered onto them. */
export interface SampledColumns {
  /** The batch's positives in ascending order, then the distinct drawn negatives. */
  readonly columns: Int32Array;
  /** Subtracted from each column's logit: 0 for a positive, log(N · q_j / c_j) for a negative. */
  readonly correction: Float32Array;
  /** The raw target batch with each entry's column replaced by its position in `columns`. */
  readonly target: SparseBatch;
}

/**
 * A step whose columns would be at least this share of a decoder's scores all of them instead (the full
 * softmax: exact, and there no slower than gathering and scattering the columns).
 */
export const FULL_SOFTMAX_SHARE = 0.5;

/** sampleColumns, or undefined when the columns reach FULL_SOFTMAX_SHARE of the decoder's (that side's step then takes the full softmax). */
export function sampleColumnsOrAll(o: { target: SparseBatch; proposal: Proposal; negatives: number; rng: Rng }): SampledColumns | undefined {
  const sample = sampleColumns(o);
  return sample.columns.length >= FULL_SOFTMAX_SHARE * o.proposal.columns ? undefined : sample;
}

/** Draws `negatives` columns from `proposal` for the raw (undropped) target rows of a batch (see the header). */
export function sampleColumns(o: { target: SparseBatch; proposal: Proposal; negatives: number; rng: Rng }): SampledColumns {
  const { target, proposal, negatives, rng } = o;
  const positives = Int32Array.from(new Set(target.idx)).sort();
  const position = new Map<number, number>();
  positives.forEach((column, k) => position.set(column, k));
  const drawn = new Map<number, number>();
  for (let n = 0; n < negatives; n += 1) {
    const column = drawColumn(proposal, rng);
    if (!position.has(column)) drawn.set(column, (drawn.get(column) ?? 0) + 1);
  }
  const columns = new Int32Array(positives.length + drawn.size);
  const correction = new Float32Array(columns.length);
  columns.set(positives);
  let k = positives.length;
  for (const [column, count] of drawn) {
    columns[k] = column;
    correction[k] = Math.log((negatives * proposalProbability(proposal, column)) / count);
    k += 1;
  }
  const idx = target.idx.map((column) => position.get(column)!);
  return { columns, correction, target: { ...target, idx } };
}
