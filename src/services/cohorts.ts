/**
 * Cohort analysis as in the paper's Table 3: test users grouped by activity (their number of
 * training clicks), with mean capacity ĉu, NDCG@10 and Recall@20 per cohort, optionally against a
 * second model over the same users.
 */
import { ErrorCode, UserError } from "../errors.ts";
import { evaluateRanking } from "../engine/evaluate.ts";
import { meanDefined } from "../engine/metrics.ts";
import { capabilitiesOf } from "../engine/types.ts";
import type { DatasetIndex } from "./dataset-index.ts";
import type { InferenceService } from "./inference.ts";
import { LruCache } from "./lru-cache.ts";
import type { LoadedModel } from "./served-model.ts";

/** The paper's Table 3 activity boundaries. */
export const DEFAULT_COHORT_BOUNDARIES: ReadonlyArray<number> = Object.freeze([5, 20, 40, 60, 80]);

/** At most this many boundaries (so at most one more cohort), which keeps answers readable. */
export const MAX_COHORT_BOUNDARIES = 50;

/** Per-user figures of one model on the test split, in the same user order for every model. */
export interface PerUserEvaluation {
  /** Dataset rows of the test users (users with at least one test click). */
  readonly rows: Int32Array;
  /** Training clicks of each test user: the activity level cohorts are formed on. */
  readonly activity: Int32Array;
  /** ĉu = KL(q(z|x_u) ‖ N(0, I)) of each test user (NaN for models without an encoder). */
  readonly capacity: Float64Array;
  /** NDCG@10 on the test split of each user. */
  readonly ndcg10: Float64Array;
  /** Recall@20 on the test split of each user. */
  readonly recall20: Float64Array;
}

/** One activity cohort of one model. */
export interface CohortFigures {
  /** Smallest number of training clicks in the cohort. */
  readonly minClicks: number;
  /** Largest number of training clicks in the cohort, or null for the open-ended last cohort. */
  readonly maxClicks: number | null;
  /** Test users in the cohort. */
  readonly userCount: number;
  /** Mean ĉu over the cohort (null when empty or the model has no encoder). */
  readonly meanCapacity: number | null;
  /** Mean NDCG@10 over the cohort (null when empty). */
  readonly ndcg10: number | null;
  /** Mean Recall@20 over the cohort (null when empty). */
  readonly recall20: number | null;
}

/** Rejects boundaries that are not strictly ascending positive integers. */
export function validateBoundaries(boundaries: ReadonlyArray<number>): ReadonlyArray<number> {
  if (boundaries.length === 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "boundaries must list at least one number of training clicks, e.g. [5, 20, 40, 60, 80].");
  }
  if (boundaries.length > MAX_COHORT_BOUNDARIES) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `boundaries may list at most ${MAX_COHORT_BOUNDARIES} numbers; got ${boundaries.length}.`);
  }
  boundaries.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `boundaries must be positive integers; boundary ${i + 1} is ${b}.`);
    }
    if (i > 0 && b <= boundaries[i - 1]) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `boundaries must be strictly ascending; ${b} follows ${boundaries[i - 1]}.`,
      );
    }
  });
  return boundaries;
}

/** Index of the cohort of a user with this many training clicks: cohort j holds [b_{j−1}, b_j). */
export function cohortIndex(activity: number, boundaries: ReadonlyArray<number>): number {
  let j = 0;
  while (j < boundaries.length && activity >= boundaries[j]) j += 1;
  return j;
}

/** Groups per-user figures into cohorts: [0, b0), [b0, b1), …, [b_last, ∞). */
export function summariseCohorts(options: {
  evaluation: PerUserEvaluation;
  boundaries: ReadonlyArray<number>;
}): CohortFigures[] {
  const { evaluation, boundaries } = options;
  const members: number[][] = Array.from({ length: boundaries.length + 1 }, () => []);
  for (let u = 0; u < evaluation.rows.length; u += 1) {
    members[cohortIndex(evaluation.activity[u], boundaries)].push(u);
  }
  return members.map((users, j) => {
    const pick = (values: Float64Array): number | null => {
      const mean = meanDefined(users.map((u) => values[u]));
      return Number.isFinite(mean) ? mean : null;
    };
    return {
      minClicks: j === 0 ? 0 : boundaries[j - 1],
      maxClicks: j === boundaries.length ? null : boundaries[j] - 1,
      userCount: users.length,
      meanCapacity: pick(evaluation.capacity),
      ndcg10: pick(evaluation.ndcg10),
      recall20: pick(evaluation.recall20),
    };
  });
}

/** (value − baseline) / baseline, or null when either is missing or the baseline is 0. */
export function relativeChange(value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null || baseline === 0) return null;
  return (value - baseline) / baseline;
}

/** Test users ranked per turn of the event loop when a model's cohort figures are first computed. */
const USERS_PER_TURN = 256;

/** One cohort with this model's figures and, when compared, the other model's and the relative change. */
export interface CohortComparison {
  readonly label: string;
  readonly minClicks: number;
  readonly maxClicks: number | null;
  readonly userCount: number;
  readonly figures: Omit<CohortFigures, "minClicks" | "maxClicks" | "userCount">;
  readonly compared: Omit<CohortFigures, "minClicks" | "maxClicks" | "userCount"> | null;
  readonly change: { meanCapacity: number | null; ndcg10: number | null; recall20: number | null } | null;
}

/** The whole answer of a cohort query. */
export interface CohortAnalysis {
  readonly modelId: number;
  readonly compareTo: number | null;
  readonly boundaries: ReadonlyArray<number>;
  readonly testUsers: number;
  readonly cohorts: ReadonlyArray<CohortComparison>;
}

/**
 * Per-user test figures of a model, computed once per model (the costly part: one ranking of every
 * test user) and cached, so other boundaries or comparisons only regroup them.
 */
export class CohortService {
  readonly #inference: InferenceService;
  /** Per-user test figures of the last `modelsCached` models asked for, until evicted, the model is deleted or its dataset grows. */
  readonly #evaluations: LruCache<number, PerUserEvaluation>;
  /** The dataset of each model evaluated, so an append to it drops the model's figures. */
  readonly #datasetOf = new Map<number, number>();

  constructor(options: { inference: InferenceService; modelsCached?: number }) {
    this.#inference = options.inference;
    this.#evaluations = new LruCache({
      capacity: options.modelsCached ?? 8,
      load: (modelId) => this.#evaluate(modelId),
    });
  }

  /** Per-user figures of the model on the test split (cached). */
  evaluation(modelId: number): Promise<PerUserEvaluation> {
    return this.#evaluations.get(modelId);
  }

  /**
   * The mean capacity over a model's test users when this server already holds its evaluation (a
   * cohort analysis made it), else undefined: /metrics reads it and never starts an evaluation.
   */
  async heldMeanCapacity(modelId: number): Promise<number | undefined> {
    if (!this.#evaluations.has(modelId)) return undefined;
    const evaluation = await this.#evaluations.get(modelId).catch(() => undefined);
    const finite = evaluation === undefined ? [] : [...evaluation.capacity].filter(Number.isFinite);
    return finite.length === 0 ? undefined : finite.reduce((sum, value) => sum + value, 0) / finite.length;
  }

  /** Forgets a model's figures (deleted model, or its dataset's histories changed). */
  forget(modelId: number): void {
    this.#evaluations.delete(modelId);
    this.#datasetOf.delete(modelId);
  }

  /** Forgets the figures of every model of a dataset whose histories changed (an append). */
  forgetDataset(datasetId: number): void {
    for (const [modelId, of] of [...this.#datasetOf]) if (of === datasetId) this.forget(modelId);
  }

  /** Cohorts of a model, optionally against a second model trained on the same dataset. */
  async analyse(options: {
    modelId: number;
    boundaries?: ReadonlyArray<number>;
    compareTo?: number | null;
  }): Promise<CohortAnalysis> {
    const boundaries = validateBoundaries(options.boundaries ?? DEFAULT_COHORT_BOUNDARIES);
    const compareTo = options.compareTo ?? null;
    if (compareTo !== null) {
      const [a, b] = await Promise.all([this.#inference.model(options.modelId), this.#inference.model(compareTo)]);
      if (a.datasetId !== b.datasetId) {
        throw new UserError(
          ErrorCode.BAD_USER_INPUT,
          `Model ${compareTo} was trained on dataset "${b.datasetName}" and model ${options.modelId} on "${a.datasetName}"; compare models of the same dataset.`,
        );
      }
    }
    const own = summariseCohorts({ evaluation: await this.evaluation(options.modelId), boundaries });
    const other = compareTo === null ? null : summariseCohorts({ evaluation: await this.evaluation(compareTo), boundaries });
    return {
      modelId: options.modelId,
      compareTo,
      boundaries,
      testUsers: own.reduce((sum, c) => sum + c.userCount, 0),
      cohorts: own.map((c, j) => {
        const o = other?.[j] ?? null;
        return {
          label: cohortLabel(c),
          minClicks: c.minClicks,
          maxClicks: c.maxClicks,
          userCount: c.userCount,
          figures: { meanCapacity: c.meanCapacity, ndcg10: c.ndcg10, recall20: c.recall20 },
          compared: o === null ? null : { meanCapacity: o.meanCapacity, ndcg10: o.ndcg10, recall20: o.recall20 },
          change:
            o === null
              ? null
              : {
                  meanCapacity: relativeChange(c.meanCapacity, o.meanCapacity),
                  ndcg10: relativeChange(c.ndcg10, o.ndcg10),
                  recall20: relativeChange(c.recall20, o.recall20),
                },
        };
      }),
    };
  }

  #evaluate(modelId: number): Promise<PerUserEvaluation> {
    return this.#inference.using(modelId, (loaded, dataset) => {
      this.#datasetOf.set(modelId, loaded.datasetId);
      return this.#evaluateLoaded(loaded, dataset);
    });
  }

  async #evaluateLoaded(loaded: LoadedModel, dataset: DatasetIndex): Promise<PerUserEvaluation> {
    // The histories as they are now, over the items the model was trained with.
    const train = dataset.clicksFor(loaded.model.numItems);
    const test = dataset.clicksFor(loaded.model.numItems, "test");
    const rows: number[] = [];
    for (let r = 0; r < test.rows; r += 1) if (test.indptr[r + 1] > test.indptr[r]) rows.push(r);
    const n = rows.length;
    const evaluation: PerUserEvaluation = {
      rows: Int32Array.from(rows),
      activity: Int32Array.from(rows, (r) => train.indptr[r + 1] - train.indptr[r]),
      capacity: new Float64Array(n).fill(Number.NaN),
      ndcg10: new Float64Array(n),
      recall20: new Float64Array(n),
    };
    // The engine's own evaluation (so the figures are exactly what its metric functions give), a chunk
    // of users per turn of the event loop so that other requests are answered meanwhile.
    for (let start = 0; start < n; start += USERS_PER_TURN) {
      const chunk = rows.slice(start, start + USERS_PER_TURN);
      const ranking = await evaluateRanking({
        model: loaded.model,
        mode: "vcm",
        input: train,
        heldOut: test,
        exclude: train,
        ks: [10, 20],
        rows: chunk,
      });
      evaluation.ndcg10.set(ranking.perUser["ndcg@10"], start);
      evaluation.recall20.set(ranking.perUser["recall@20"], start);
      if (capabilitiesOf(loaded.variant).capacity) {
        evaluation.capacity.set(await loaded.model.capacity({ matrix: train, rows: chunk }), start);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    return evaluation;
  }
}

/** "< 5", "5–19", "≥ 80": the cohort's range of training clicks. */
export function cohortLabel(c: { minClicks: number; maxClicks: number | null }): string {
  if (c.maxClicks === null) return `≥ ${c.minClicks}`;
  if (c.minClicks === 0) return `< ${c.maxClicks + 1}`;
  return c.minClicks === c.maxClicks ? `${c.minClicks}` : `${c.minClicks}–${c.maxClicks}`;
}
