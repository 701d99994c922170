/**
 * Cohort analysis as in the paper's Table 3: test users grouped by activity (their number of
 * training clicks, cut at fixed boundaries or into quantile groups), with mean capacity ĉu, NDCG@10,
 * Recall@20 and the beyond-accuracy metrics per cohort, optionally against a second model over the
 * same users; and items grouped by popularity (head / torso / tail) with the accuracy on each.
 */
import { ErrorCode, UserError } from "../errors.ts";
import { beyondAccuracyPerUser, catalogueCoverage, itemCohortAccuracy, type PerUserBeyondAccuracy, type TopLists } from "../engine/beyond-accuracy.ts";
import { ITEM_COHORTS, popularityCohorts, quantileBoundaries, type ItemCohortName } from "../engine/cohort-groupings.ts";
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

/** How test users are cut into cohorts: at given boundaries, or into quantile groups of their training activity. */
export type CohortGrouping = "BOUNDARIES" | "EQUAL_USERS" | "EQUAL_INTERACTIONS";

/** Quantile groups when none are asked for (the experiment report's default too). */
export const DEFAULT_COHORT_GROUPS = 5;

/** Default shares of all training clicks held by the head and by the tail of the item popularity cohorts (the torso holds the rest). */
export const DEFAULT_ITEM_SHARES: Readonly<{ head: number; tail: number }> = Object.freeze({ head: 0.2, tail: 0.2 });

/** The list length k of catalogue coverage, ARP, APLT and novelty (the k of NDCG@10). */
export const BEYOND_ACCURACY_K = 10;

/** The list length of the item cohorts' recall (the k of Recall@20). */
export const ITEM_COHORT_K = 20;

/** Rejects a number of quantile groups that is not an integer from 1 to one more than MAX_COHORT_BOUNDARIES. */
export function validateGroups(groups: number): number {
  if (!Number.isInteger(groups) || groups < 1 || groups > MAX_COHORT_BOUNDARIES + 1) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `groups must be an integer from 1 to ${MAX_COHORT_BOUNDARIES + 1}; got ${groups}.`);
  }
  return groups;
}

/** Rejects head and tail shares outside [0, 1] or summing to more than 1. */
export function validateItemShares(shares: { head: number; tail: number }): { head: number; tail: number } {
  for (const [name, v] of [["headShare", shares.head], ["tailShare", shares.tail]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} must be a share of all clicks from 0 to 1, e.g. 0.2; got ${v}.`);
  }
  if (shares.head + shares.tail > 1) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `headShare + tailShare must be at most 1 (the torso holds the rest); got ${shares.head} + ${shares.tail}.`);
  }
  return shares;
}

/**
 * The boundaries of a grouping over these activity levels: the given (or default) boundaries, or the
 * quantile cuts of `groups` groups of equal users or equal training clicks (ties kept together).
 */
export function cohortBoundaries(options: { activity: ArrayLike<number>; grouping: CohortGrouping; groups?: number; boundaries?: ReadonlyArray<number> }): ReadonlyArray<number> {
  switch (options.grouping) {
    case "BOUNDARIES":
      return validateBoundaries(options.boundaries ?? DEFAULT_COHORT_BOUNDARIES);
    case "EQUAL_USERS":
    case "EQUAL_INTERACTIONS":
      return quantileBoundaries({
        activity: options.activity,
        groups: validateGroups(options.groups ?? DEFAULT_COHORT_GROUPS),
        weight: options.grouping === "EQUAL_USERS" ? "users" : "interactions",
      });
    default: {
      const never: never = options.grouping;
      throw new Error(`unknown grouping ${String(never)}`);
    }
  }
}

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
  /** NDCG@100 on the test split of each user (compareModels). */
  readonly ndcg100: Float64Array;
  /** Recall@50 on the test split of each user (compareModels). */
  readonly recall50: Float64Array;
  /** Each user's top ITEM_COHORT_K items (−1 past the end). */
  readonly top: TopLists;
  /** Each user's test items: indices[indptr[u] … indptr[u + 1]). */
  readonly heldOut: { readonly indptr: Int32Array; readonly indices: Int32Array };
  /** Training clicks of each of the model's items. */
  readonly itemClicks: Int32Array;
  /** Users of the training matrix (test users or not): the denominator of novelty's p(i). */
  readonly trainUsers: number;
}

/** Catalogue coverage, ARP, APLT and novelty of a set of users' top BEYOND_ACCURACY_K. */
export interface BeyondAccuracyFigures {
  readonly coverage: number | null;
  readonly arp: number | null;
  readonly aplt: number | null;
  readonly novelty: number | null;
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
  /** Beyond-accuracy figures of the cohort's lists (null when empty). */
  readonly beyondAccuracy: BeyondAccuracyFigures;
}

/** Each item's popularity cohort (0 head, 1 torso, 2 tail) from its training clicks. */
export function itemCohortsOf(evaluation: PerUserEvaluation, shares: { head: number; tail: number } = DEFAULT_ITEM_SHARES): Uint8Array {
  return popularityCohorts({ clicks: evaluation.itemClicks, headShare: shares.head, tailShare: shares.tail });
}

/** Per-user ARP, APLT and novelty at BEYOND_ACCURACY_K, the long tail being the tail cohort of these shares. */
export function beyondPerUser(evaluation: PerUserEvaluation, shares: { head: number; tail: number } = DEFAULT_ITEM_SHARES): PerUserBeyondAccuracy {
  const cohortOf = itemCohortsOf(evaluation, shares);
  return beyondAccuracyPerUser({
    lists: evaluation.top,
    k: BEYOND_ACCURACY_K,
    itemClicks: evaluation.itemClicks,
    users: evaluation.trainUsers,
    tail: Uint8Array.from(cohortOf, (c) => (c === 2 ? 1 : 0)),
  });
}

function meanOrNull(values: ArrayLike<number>, members: ReadonlyArray<number>): number | null {
  const mean = meanDefined(members.map((u) => values[u]));
  return Number.isFinite(mean) ? mean : null;
}

/** Beyond-accuracy figures over some users (all by default). */
export function beyondFigures(options: { evaluation: PerUserEvaluation; perUser: PerUserBeyondAccuracy; members?: ReadonlyArray<number> }): BeyondAccuracyFigures {
  const { evaluation, perUser } = options;
  const members = options.members ?? Array.from(evaluation.rows, (_, u) => u);
  if (members.length === 0) return { coverage: null, arp: null, aplt: null, novelty: null };
  return {
    coverage: catalogueCoverage({ lists: evaluation.top, k: BEYOND_ACCURACY_K, numItems: evaluation.itemClicks.length, members }),
    arp: meanOrNull(perUser.arp, members),
    aplt: meanOrNull(perUser.aplt, members),
    novelty: meanOrNull(perUser.novelty, members),
  };
}

/** The parts of a CSR click matrix the figures read. */
type ClickMatrix = { readonly rows: number; readonly cols: number; readonly indptr: Int32Array; readonly indices: Int32Array };

/** Training clicks of each item (a column's entries): the popularity φ(i) of ARP, novelty and the item cohorts. */
export function clicksPerItem(train: ClickMatrix): Int32Array {
  const clicks = new Int32Array(train.cols);
  for (let p = 0; p < train.indptr[train.rows]; p += 1) clicks[train.indices[p]] += 1;
  return clicks;
}

/**
 * Recall@ITEM_COHORT_K on each item popularity cohort (default shares) of a whole evaluation's rankings
 * (an experiment run), whose rows are every row of `test`, in order.
 */
export function itemCohortRecallOfRanking(options: { top: Int32Array; topStride: number; train: ClickMatrix; test: ClickMatrix }): Record<ItemCohortName, number | null> {
  const { train } = options;
  const itemClicks = clicksPerItem(train);
  const cohortOf = popularityCohorts({ clicks: itemClicks, headShare: DEFAULT_ITEM_SHARES.head, tailShare: DEFAULT_ITEM_SHARES.tail });
  const figures = itemCohortAccuracy({ lists: { items: options.top, stride: options.topStride }, k: ITEM_COHORT_K, heldOut: options.test, cohortOf, cohorts: ITEM_COHORTS.length });
  return Object.fromEntries(ITEM_COHORTS.map((name, c) => [name, Number.isFinite(figures[c].recall) ? figures[c].recall : null])) as Record<ItemCohortName, number | null>;
}

/**
 * Beyond-accuracy figures of a whole evaluation's rankings (an experiment run): coverage, ARP, APLT
 * and novelty at BEYOND_ACCURACY_K over the rows with held-out items, from the training clicks.
 */
export function beyondAccuracyOfRanking(options: { top: Int32Array; topStride: number; train: ClickMatrix }): BeyondAccuracyFigures {
  const { train } = options;
  const itemClicks = clicksPerItem(train);
  const cohortOf = popularityCohorts({ clicks: itemClicks, headShare: DEFAULT_ITEM_SHARES.head, tailShare: DEFAULT_ITEM_SHARES.tail });
  const lists = { items: options.top, stride: options.topStride };
  const perUser = beyondAccuracyPerUser({ lists, k: BEYOND_ACCURACY_K, itemClicks, users: train.rows, tail: Uint8Array.from(cohortOf, (c) => (c === 2 ? 1 : 0)) });
  const orNull = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    coverage: orNull(catalogueCoverage({ lists, k: BEYOND_ACCURACY_K, numItems: train.cols })),
    arp: orNull(meanDefined(perUser.arp)),
    aplt: orNull(meanDefined(perUser.aplt)),
    novelty: orNull(meanDefined(perUser.novelty)),
  };
}

/** One item popularity cohort of one model. */
export interface ItemCohortFigures {
  readonly name: ItemCohortName;
  /** Items in the cohort. */
  readonly itemCount: number;
  /** Share of all training clicks on the cohort's items. */
  readonly clickShare: number;
  /** Test clicks on the cohort's items (of the test users). */
  readonly testClicks: number;
  /** Test clicks on the cohort's items found in the user's top ITEM_COHORT_K / testClicks (null without test clicks). */
  readonly recall20: number | null;
  /** Share of the top-BEYOND_ACCURACY_K slots given to the cohort's items. */
  readonly recommendationShare: number | null;
}

/** Head, torso and tail of the model's items with the accuracy of its rankings on each. */
export function summariseItemCohorts(options: { evaluation: PerUserEvaluation; shares?: { head: number; tail: number } }): ItemCohortFigures[] {
  const { evaluation } = options;
  const cohortOf = itemCohortsOf(evaluation, options.shares);
  const recall = itemCohortAccuracy({ lists: evaluation.top, k: ITEM_COHORT_K, heldOut: evaluation.heldOut, cohortOf, cohorts: ITEM_COHORTS.length });
  const slots = itemCohortAccuracy({ lists: evaluation.top, k: BEYOND_ACCURACY_K, heldOut: evaluation.heldOut, cohortOf, cohorts: ITEM_COHORTS.length });
  let total = 0;
  const clicks = new Float64Array(ITEM_COHORTS.length);
  const items = new Int32Array(ITEM_COHORTS.length);
  evaluation.itemClicks.forEach((c, i) => {
    clicks[cohortOf[i]] += c;
    items[cohortOf[i]] += 1;
    total += c;
  });
  const orNull = (v: number) => (Number.isFinite(v) ? v : null);
  return ITEM_COHORTS.map((name, c) => ({
    name,
    itemCount: items[c],
    clickShare: total === 0 ? 0 : clicks[c] / total,
    testClicks: recall[c].heldOutClicks,
    recall20: orNull(recall[c].recall),
    recommendationShare: orNull(slots[c].recommendationShare),
  }));
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
  shares?: { head: number; tail: number };
}): CohortFigures[] {
  const { evaluation, boundaries } = options;
  const perUser = beyondPerUser(evaluation, options.shares);
  const members: number[][] = Array.from({ length: boundaries.length + 1 }, () => []);
  for (let u = 0; u < evaluation.rows.length; u += 1) {
    members[cohortIndex(evaluation.activity[u], boundaries)].push(u);
  }
  return members.map((users, j) => {
    const pick = (values: Float64Array): number | null => meanOrNull(values, users);
    return {
      minClicks: j === 0 ? 0 : boundaries[j - 1],
      maxClicks: j === boundaries.length ? null : boundaries[j] - 1,
      userCount: users.length,
      meanCapacity: pick(evaluation.capacity),
      ndcg10: pick(evaluation.ndcg10),
      recall20: pick(evaluation.recall20),
      beyondAccuracy: beyondFigures({ evaluation, perUser, members: users }),
    };
  });
}

/** (value − baseline) / baseline, or null when either is missing or the baseline is 0. */
export function relativeChange(value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null || baseline === 0) return null;
  return (value - baseline) / baseline;
}

/** Test users ranked per turn of the event loop when a model's cohort figures are computed: the batch a sharded pass cuts at. */
export const COHORT_BATCH_USERS = 256;

/** A cohort's figures without its range. */
export type CohortFigureSet = Omit<CohortFigures, "minClicks" | "maxClicks" | "userCount">;

/** One cohort with this model's figures and, when compared, the other model's and the relative change. */
export interface CohortComparison {
  readonly label: string;
  readonly minClicks: number;
  readonly maxClicks: number | null;
  readonly userCount: number;
  readonly figures: CohortFigureSet;
  readonly compared: CohortFigureSet | null;
  readonly change: { meanCapacity: number | null; ndcg10: number | null; recall20: number | null } | null;
}

/** The whole answer of a cohort query. */
export interface CohortAnalysis {
  readonly modelId: number;
  readonly compareTo: number | null;
  readonly grouping: CohortGrouping;
  readonly boundaries: ReadonlyArray<number>;
  readonly testUsers: number;
  readonly cohorts: ReadonlyArray<CohortComparison>;
  /** The model's beyond-accuracy figures over all test users. */
  readonly beyondAccuracy: BeyondAccuracyFigures;
  readonly itemShares: { readonly head: number; readonly tail: number };
  readonly itemCohorts: ReadonlyArray<ItemCohortFigures>;
}

function figureSet(c: CohortFigures): CohortFigureSet {
  return { meanCapacity: c.meanCapacity, ndcg10: c.ndcg10, recall20: c.recall20, beyondAccuracy: c.beyondAccuracy };
}

/** A model's per-user figures computed by a pass over shards, with the model's dataset. */
export type ShardedCohortEvaluation = (modelId: number) => Promise<{ evaluation: PerUserEvaluation; datasetId: number }>;

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
  /** The pass over shards that replaces the in-process one (sharded-cohorts.ts), when a pass is split. */
  readonly #sharded: ShardedCohortEvaluation | undefined;

  constructor(options: { inference: InferenceService; modelsCached?: number; sharded?: ShardedCohortEvaluation }) {
    this.#inference = options.inference;
    this.#sharded = options.sharded;
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

  /** Catalogue coverage, ARP, APLT and novelty of a model's top BEYOND_ACCURACY_K over its test users (the long tail at the default shares). */
  async beyondAccuracy(modelId: number): Promise<BeyondAccuracyFigures> {
    const evaluation = await this.evaluation(modelId);
    return beyondFigures({ evaluation, perUser: beyondPerUser(evaluation) });
  }

  /** Cohorts of a model, optionally against a second model trained on the same dataset. */
  async analyse(options: {
    modelId: number;
    grouping?: CohortGrouping;
    groups?: number;
    boundaries?: ReadonlyArray<number>;
    compareTo?: number | null;
    itemShares?: { head: number; tail: number };
  }): Promise<CohortAnalysis> {
    const grouping = options.grouping ?? "BOUNDARIES";
    if (grouping === "BOUNDARIES") validateBoundaries(options.boundaries ?? DEFAULT_COHORT_BOUNDARIES);
    else validateGroups(options.groups ?? DEFAULT_COHORT_GROUPS);
    const shares = validateItemShares(options.itemShares ?? DEFAULT_ITEM_SHARES);
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
    const evaluation = await this.evaluation(options.modelId);
    const boundaries = cohortBoundaries({ activity: evaluation.activity, grouping, groups: options.groups, boundaries: options.boundaries });
    const own = summariseCohorts({ evaluation, boundaries, shares });
    const other = compareTo === null ? null : summariseCohorts({ evaluation: await this.evaluation(compareTo), boundaries, shares });
    return {
      modelId: options.modelId,
      compareTo,
      grouping,
      boundaries,
      beyondAccuracy: beyondFigures({ evaluation, perUser: beyondPerUser(evaluation, shares) }),
      itemShares: shares,
      itemCohorts: summariseItemCohorts({ evaluation, shares }),
      testUsers: own.reduce((sum, c) => sum + c.userCount, 0),
      cohorts: own.map((c, j) => {
        const o = other?.[j] ?? null;
        return {
          label: cohortLabel(c),
          minClicks: c.minClicks,
          maxClicks: c.maxClicks,
          userCount: c.userCount,
          figures: figureSet(c),
          compared: o === null ? null : figureSet(o),
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

  async #evaluate(modelId: number): Promise<PerUserEvaluation> {
    if (this.#sharded !== undefined) {
      const { evaluation, datasetId } = await this.#sharded(modelId);
      this.#datasetOf.set(modelId, datasetId);
      return evaluation;
    }
    return this.#inference.using(modelId, (loaded, dataset) => {
      this.#datasetOf.set(modelId, loaded.datasetId);
      return this.#evaluateLoaded(loaded, dataset);
    });
  }

  async #evaluateLoaded(loaded: LoadedModel, dataset: DatasetIndex): Promise<PerUserEvaluation> {
    const frame = cohortEvaluationFrame(loaded, dataset);
    for await (const chunk of evaluateTestUsers({ loaded, frame, first: 0, end: frame.evaluation.rows.length })) void chunk;
    return frame.evaluation;
  }
}

/** A model's per-user evaluation before its users are ranked, with the matrices ranking reads. */
export interface CohortEvaluationFrame {
  /** Every test user's row, activity and held-out items filled; capacity NaN, figures 0, lists −1 until ranked. */
  readonly evaluation: PerUserEvaluation;
  readonly train: DatasetClicks;
  readonly test: DatasetClicks;
}

type DatasetClicks = ReturnType<DatasetIndex["clicksFor"]>;

/** The test users of a model (users with at least one test click) and their training figures, ready to be ranked. */
export function cohortEvaluationFrame(loaded: LoadedModel, dataset: DatasetIndex): CohortEvaluationFrame {
  // The histories as they are now, over the items the model was trained with.
  const train = dataset.clicksFor(loaded.model.numItems);
  const test = dataset.clicksFor(loaded.model.numItems, "test");
  const rows: number[] = [];
  for (let r = 0; r < test.rows; r += 1) if (test.indptr[r + 1] > test.indptr[r]) rows.push(r);
  const n = rows.length;
  const heldOutIndptr = new Int32Array(n + 1);
  rows.forEach((r, u) => {
    heldOutIndptr[u + 1] = heldOutIndptr[u] + test.indptr[r + 1] - test.indptr[r];
  });
  const heldOutIndices = new Int32Array(heldOutIndptr[n]);
  rows.forEach((r, u) => heldOutIndices.set(test.indices.subarray(test.indptr[r], test.indptr[r + 1]), heldOutIndptr[u]));
  const evaluation: PerUserEvaluation = {
    rows: Int32Array.from(rows),
    activity: Int32Array.from(rows, (r) => train.indptr[r + 1] - train.indptr[r]),
    capacity: new Float64Array(n).fill(Number.NaN),
    ndcg10: new Float64Array(n),
    recall20: new Float64Array(n),
    ndcg100: new Float64Array(n),
    recall50: new Float64Array(n),
    top: { items: new Int32Array(n * ITEM_COHORT_K).fill(-1), stride: ITEM_COHORT_K },
    heldOut: { indptr: heldOutIndptr, indices: heldOutIndices },
    itemClicks: clicksPerItem(train),
    trainUsers: train.rows,
  };
  return { evaluation, train, test };
}

/**
 * Ranks the test users at positions [first, end) of a frame, COHORT_BATCH_USERS at a time from
 * `first`, and fills their figures; yields each batch's range once filled. A range starting at a
 * multiple of COHORT_BATCH_USERS computes exactly the batches a whole pass does (sharded-cohorts.ts).
 */
export async function* evaluateTestUsers(o: { loaded: LoadedModel; frame: CohortEvaluationFrame; first: number; end: number }): AsyncGenerator<{ start: number; end: number }> {
  const { loaded, frame } = o;
  const { evaluation, train, test } = frame;
  const rows = Array.from(evaluation.rows);
  // The engine's own evaluation (so the figures are exactly what its metric functions give), a chunk
  // of users per turn of the event loop so that other requests are answered meanwhile.
  for (let start = o.first; start < o.end; start += COHORT_BATCH_USERS) {
    const chunk = rows.slice(start, Math.min(o.end, start + COHORT_BATCH_USERS));
    const ranking = await evaluateRanking({
      model: loaded.model,
      mode: "vcm",
      input: train,
      heldOut: test,
      exclude: train,
      ks: [10, ITEM_COHORT_K, 50, 100],
      rows: chunk,
    });
    // Each row's ranking is 100 deep; the lists keep its first ITEM_COHORT_K.
    chunk.forEach((_, j) => evaluation.top.items.set(ranking.top.subarray(j * ranking.topStride, j * ranking.topStride + ITEM_COHORT_K), (start + j) * ITEM_COHORT_K));
    evaluation.ndcg10.set(ranking.perUser["ndcg@10"], start);
    evaluation.recall20.set(ranking.perUser["recall@20"], start);
    evaluation.ndcg100.set(ranking.perUser["ndcg@100"], start);
    evaluation.recall50.set(ranking.perUser["recall@50"], start);
    if (capabilitiesOf(loaded.variant).capacity) {
      evaluation.capacity.set(await loaded.model.capacity({ matrix: train, rows: chunk }), start);
    }
    await new Promise((resolve) => setImmediate(resolve));
    yield { start, end: start + chunk.length };
  }
}

/** "< 5", "5–19", "≥ 80": the cohort's range of training clicks. */
export function cohortLabel(c: { minClicks: number; maxClicks: number | null }): string {
  if (c.maxClicks === null) return `≥ ${c.minClicks}`;
  if (c.minClicks === 0) return `< ${c.maxClicks + 1}`;
  return c.minClicks === c.maxClicks ? `${c.minClicks}` : `${c.minClicks}–${c.maxClicks}`;
}
