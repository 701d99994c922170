/**
 * Predictions for the API, the one service the prediction resolvers call: trained models (each a
 * ServedModel, which owns its inference and recent answers) and dataset indexes held in bounded LRU
 * caches, and requests grouped by model so that many users of one query cost one engine call per
 * (model, kind) instead of one per user.
 */
import type { ItemWordStats } from "../engine/explanation-rules.ts";
import { DEFAULT_RETRIEVAL_MODE, type RetrievalMode } from "../engine/retrieval/retrieval-mode.ts";
import { ErrorCode, UserError } from "../errors.ts";
import type { DatasetIndex } from "./dataset-index.ts";
import { LruCache } from "./lru-cache.ts";
import {
  ServedModel,
  type LoadedModel,
  type NamedExplanation,
  type PairRequest,
  type RankedItem,
  type RankingRequest,
  type ScoreSource,
  type WhatIfReading,
} from "./served-model.ts";
import { SharedEngineCalls } from "./shared-engine-calls.ts";

/** One user's ranking request. */
export interface RecommendationRequest extends RankingRequest {
  readonly modelId: number;
  readonly source: ScoreSource;
}

/** One (user, item) pair to explain under one model. */
export interface ExplanationRequest extends PairRequest {
  readonly modelId: number;
}

/**
 * How the caches learn of changes made by other processes on the same database (another server's
 * deleteModel or append, a CLI ingest --replace or --append, a training worker): `changed` is cheap
 * and asked before every cached answer; only when it says yes are the cached ids checked against the
 * database.
 */
export interface CacheFreshness {
  /** True when another process may have committed a change since the last call. */
  changed(): boolean;
  /** Of these ids, the models still ready, and the datasets that still exist with their versions (datasets.version). */
  current(ids: { models: ReadonlyArray<number>; datasets: ReadonlyArray<number> }): Promise<{ models: ReadonlySet<number>; datasets: ReadonlyMap<number, number> }>;
}

/** Loads of one request's model before it gives up on a cache that keeps releasing it (other models crowd it out). */
const MAX_MODEL_ATTEMPTS = 3;

/** What that request is told. */
const MODEL_CACHE_BUSY_MESSAGE = "The server is loading other models as fast as this one; try again in a moment.";

/** Caches sized for a 2-core server: a few models and datasets, each up to hundreds of MB. */
export interface InferenceCacheSizes {
  readonly models: number;
  readonly datasets: number;
}

export const DEFAULT_INFERENCE_CACHE_SIZES: InferenceCacheSizes = Object.freeze({ models: 4, datasets: 2 });

/** Scores items and words for users of trained models, through bounded caches. */
export class InferenceService {
  /** The last `sizes.models` models asked for, each with its recent answers, until evicted, deleted or found gone (CacheFreshness). */
  readonly #models: LruCache<number, ServedModel>;
  /**
   * The last `sizes.datasets` dataset indexes asked for (matrices, tokenizer, item word statistics),
   * until evicted or found gone; replaced by the next version's index when the dataset's version moves.
   */
  readonly #datasets: LruCache<number, DatasetIndex>;
  /** The one mechanism that lets concurrent requests share engine calls. */
  readonly #calls: SharedEngineCalls;
  /** Models in use by running work: an evicted one is disposed only when its last user is done. */
  readonly #leases = new Map<ServedModel, { busy: number; evicted: boolean }>();
  /** Models whose tensors were released (deleted or evicted while nobody used them): never handed to work. */
  readonly #released = new WeakSet<ServedModel>();
  readonly #freshness: CacheFreshness | undefined;
  /** Told of each model id that another process deleted (or failed), for caches kept elsewhere. */
  readonly #onModelGone: (modelId: number) => void;
  /** Told of each dataset whose index was replaced by a newer version's, for caches kept elsewhere (cohorts). */
  readonly #onDatasetChanged: (datasetId: number) => void;
  /** Reads a dataset's index at its current version, following `previous` (DatasetIndex row stamps). */
  readonly #loadDataset: (datasetId: number, previous?: DatasetIndex) => Promise<DatasetIndex>;
  /** The check in progress, shared by the requests that arrive meanwhile. */
  #checking: Promise<void> | undefined;

  constructor(options: {
    loadModel: (modelId: number) => Promise<LoadedModel>;
    loadDataset: (datasetId: number, previous?: DatasetIndex) => Promise<DatasetIndex>;
    sizes?: InferenceCacheSizes;
    freshness?: CacheFreshness;
    /** How long an engine call waits for more requests of the same kind (SharedEngineCalls). */
    shareWindowMs?: number;
    onModelGone?: (modelId: number) => void;
    onDatasetChanged?: (datasetId: number) => void;
    /** How users' items are ranked (exact, approximate, or auto by item count; engine/retrieval). */
    retrieval?: RetrievalMode;
  }) {
    const sizes = options.sizes ?? DEFAULT_INFERENCE_CACHE_SIZES;
    this.#freshness = options.freshness;
    this.#calls = new SharedEngineCalls({ shareWindowMs: options.shareWindowMs });
    this.#onModelGone = options.onModelGone ?? (() => undefined);
    this.#onDatasetChanged = options.onDatasetChanged ?? (() => undefined);
    this.#loadDataset = options.loadDataset;
    this.#models = new LruCache({
      capacity: sizes.models,
      load: async (modelId) => ServedModel.load({ loaded: await options.loadModel(modelId), calls: this.#calls, retrieval: options.retrieval ?? DEFAULT_RETRIEVAL_MODE }),
      onEvict: (served) => {
        const lease = this.#leases.get(served);
        if (lease !== undefined) {
          lease.evicted = true;
          return;
        }
        this.#released.add(served);
        served.dispose();
      },
    });
    this.#datasets = new LruCache({ capacity: sizes.datasets, load: (datasetId) => options.loadDataset(datasetId) });
  }

  /** The served model (from the cache when held and still current). */
  async model(modelId: number): Promise<ServedModel> {
    await this.#dropStale();
    return this.#models.get(modelId);
  }

  /** The dataset index by dataset id (from the cache when held and still current). */
  async dataset(datasetId: number): Promise<DatasetIndex> {
    await this.#dropStale();
    return this.#datasets.get(datasetId);
  }

  /** The item word statistics of a dataset's reviews, by dataset id (held with its index). */
  async itemWordStats(datasetId: number): Promise<ItemWordStats> {
    return (await this.dataset(datasetId)).itemWordStats();
  }

  /**
   * Evicts cached models and datasets that another process removed since the last check, and follows
   * the datasets whose version moved (an append): requests wait for the new index, so every answer
   * after the check reads the histories as they are now.
   */
  #dropStale(): Promise<void> {
    const freshness = this.#freshness;
    if (this.#checking !== undefined) return this.#checking;
    if (freshness === undefined || !freshness.changed()) return Promise.resolve();
    return this.#check(freshness);
  }

  /** Looks up the cached ids now (one check at a time; later callers share it). */
  #check(freshness: CacheFreshness): Promise<void> {
    const models = this.#models.keys();
    const datasets = this.#datasets.keys();
    if (models.length === 0 && datasets.length === 0) return Promise.resolve();
    this.#checking = freshness
      .current({ models, datasets })
      .then(async (current) => {
        for (const id of models) {
          if (current.models.has(id)) continue;
          this.#models.delete(id);
          this.#onModelGone(id);
        }
        for (const id of datasets) {
          const version = current.datasets.get(id);
          if (version === undefined) this.#datasets.delete(id);
          else await this.#follow(id, version);
        }
      })
      .finally(() => {
        this.#checking = undefined;
      });
    return this.#checking;
  }

  /**
   * Tells the caches that this process changed a dataset (its own append, which its commit watch does
   * not report): the cached index follows the new version before the next answer.
   */
  async datasetChanged(datasetId: number): Promise<void> {
    const freshness = this.#freshness;
    if (!this.#datasets.has(datasetId)) return;
    if (freshness === undefined) {
      this.#datasets.delete(datasetId);
      return;
    }
    // A check already running may have read the version before this change: run another after it.
    await this.#checking;
    await this.#check(freshness);
  }

  /**
   * Replaces a cached index whose dataset moved to another version by one read at that version, and
   * drops from the served models of the dataset exactly the answers of the rows whose history changed
   * (DatasetIndex row stamps; answers are kept under them, so none computed before is given after).
   */
  async #follow(datasetId: number, version: number): Promise<void> {
    const held = await this.#datasets.peek(datasetId)?.catch(() => undefined);
    if (held === undefined || held.version === version) return;
    const loading = this.#loadDataset(datasetId, held);
    this.#datasets.set(datasetId, loading);
    let next: DatasetIndex;
    try {
      next = await loading;
    } catch {
      // The next request reads it afresh (a failed load is not kept).
      return;
    }
    const rows = next.changedRowsSince(held);
    const reviewsChanged = next.statsStamp !== held.statsStamp;
    for (const served of await this.#models.values()) if (served.datasetId === datasetId) served.forgetRows({ rows, reviewsChanged });
    this.#onDatasetChanged(datasetId);
  }

  /** The model and its dataset together. */
  async modelWithDataset(modelId: number): Promise<{ loaded: ServedModel; dataset: DatasetIndex }> {
    const loaded = await this.model(modelId);
    return { loaded, dataset: await this.dataset(loaded.datasetId) };
  }

  /**
   * Runs work that uses a model across awaits: the model stays alive until the work ends, even if the
   * cache evicts it meanwhile (it is disposed then).
   */
  async using<T>(modelId: number, work: (served: ServedModel, dataset: DatasetIndex) => Promise<T>): Promise<T> {
    const served = await this.#unreleasedModel(modelId);
    const lease = this.#leases.get(served) ?? { busy: 0, evicted: false };
    this.#leases.set(served, lease);
    lease.busy += 1;
    try {
      return await this.#calls.during(async () => work(served, await this.dataset(served.datasetId)));
    } finally {
      lease.busy -= 1;
      if (lease.busy === 0) {
        this.#leases.delete(served);
        if (lease.evicted) served.dispose();
      }
    }
  }

  /**
   * The model as a lease may hold it: one the cache released between its load and now (a deleteModel
   * racing this request) is asked for again, which loads it anew or, its row gone, answers NOT_FOUND.
   */
  async #unreleasedModel(modelId: number): Promise<ServedModel> {
    for (let attempt = 1; ; attempt += 1) {
      const served = await this.model(modelId);
      if (!this.#released.has(served)) return served;
      if (attempt === MAX_MODEL_ATTEMPTS) throw new UserError(ErrorCode.SERVER_BUSY, MODEL_CACHE_BUSY_MESSAGE);
    }
  }

  /** Forgets a model (deleted or retrained), releasing its tensors. */
  evictModel(modelId: number): void {
    this.#models.delete(modelId);
  }

  /** Forgets a dataset's index (after it changed). */
  evictDataset(datasetId: number): void {
    this.#datasets.delete(datasetId);
  }

  /** Releases every cached model. */
  dispose(): void {
    this.#models.clear();
    this.#datasets.clear();
  }

  /**
   * Rankings for many requests in request order, with ONE engine call per (model, source) group,
   * however many users and k values the group holds.
   */
  async recommendMany(requests: ReadonlyArray<RecommendationRequest>): Promise<Array<RankedItem[] | Error>> {
    return this.#perModel({
      requests,
      groupOf: (r) => `${r.modelId}|${r.source}`,
      run: (served, dataset, group) => served.recommend({ dataset, source: group[0].source, requests: group }),
    });
  }

  /** click2review p(w|u) for many (model, row) pairs, one engine call per model. */
  async wordDistributionMany(requests: ReadonlyArray<{ readonly modelId: number; readonly row: number }>): Promise<Array<Float32Array | Error>> {
    return this.#perModel({ requests, run: (served, dataset, group) => served.wordDistributions({ dataset, rows: group.map((r) => r.row) }) });
  }

  /**
   * For many (model, row, item) pairs, the effect of each word of the user's bag on the item's
   * review2click score (ServedModel.wordEffects); one engine call per model.
   */
  async wordEffectsMany(
    requests: ReadonlyArray<{ readonly modelId: number; readonly row: number; readonly item: number }>,
  ): Promise<Array<{ readonly words: ArrayLike<number>; readonly effects: ArrayLike<number> } | Error>> {
    return this.#perModel({ requests, run: (served, dataset, pairs) => served.wordEffects({ dataset, pairs }) });
  }

  /** ĉu for many (model, row) pairs, one engine call per model. */
  async capacityMany(requests: ReadonlyArray<{ readonly modelId: number; readonly row: number }>): Promise<Array<number | Error>> {
    return this.#perModel({ requests, run: (served, dataset, group) => served.capacity({ dataset, rows: group.map((r) => r.row) }) });
  }

  /**
   * Explains many pairs in request order; a failing model fails only its own pairs. A served model
   * keeps the explanations it gave last, which answer the same pair, k, rule and history again
   * (without touching the engine).
   */
  async explainMany(requests: ReadonlyArray<ExplanationRequest>): Promise<Array<NamedExplanation | Error>> {
    const results: Array<NamedExplanation | Error> = new Array(requests.length);
    const missing: number[] = [];
    for (const [modelId, members] of groupBy(requests, (r) => String(r.modelId))) {
      // A model that cannot be loaded holds no answers: the full path below says why.
      const served = await this.model(Number(modelId)).catch(() => undefined);
      const dataset = served === undefined ? undefined : await this.dataset(served.datasetId).catch(() => undefined);
      const held = served === undefined || dataset === undefined ? [] : served.heldExplanations({ dataset, pairs: members.map((m) => requests[m]) });
      members.forEach((m, i) => {
        const answer = held[i];
        if (answer === undefined) missing.push(m);
        else results[m] = answer;
      });
    }
    if (missing.length === 0) return results;
    const computed = await this.#perModel({
      requests: missing.map((m) => requests[m]),
      run: (served, dataset, pairs) => served.explain({ dataset, pairs }),
    });
    missing.forEach((m, j) => (results[m] = computed[j]));
    return results;
  }

  /**
   * A ranking for a history that is not stored (recommendFor): the clicked items and text read as the
   * model sees them (ServedModel.readHistory), ranked from the clicks (VCM) or, with no known click,
   * from the text (VCM-CD), through the same calls as a stored user's.
   */
  async recommendFor(options: {
    modelId: number;
    clicks: ReadonlyArray<string>;
    text: string | null;
    k: number;
    excludeClicked: boolean;
  }): Promise<{ datasetId: number; reading: WhatIfReading; items: RankedItem[] }> {
    return this.using(options.modelId, async (served, dataset) => {
      const reading = served.readHistory({ dataset, clicks: options.clicks, text: options.text });
      const [items] = await served.recommend({
        dataset: reading.view,
        source: reading.source,
        requests: [{ row: 0, k: options.k, excludeSeen: options.excludeClicked }],
      });
      return { datasetId: served.datasetId, reading, items };
    });
  }

  /** Runs more of a what-if answer's calls (word distribution, capacity, explanations) on its one-row index. */
  async whatIf<T>(options: { modelId: number; reading: WhatIfReading; run: (served: ServedModel, view: DatasetIndex) => Promise<T> }): Promise<T> {
    return this.using(options.modelId, (served) => options.run(served, options.reading.view));
  }

  /** Cold start from text alone (ServedModel.recommendForText), with the model's dataset id. */
  async recommendForText(options: { modelId: number; text: string; k: number }): Promise<{ datasetId: number; items: RankedItem[]; knownWords: string[]; unknownTokens: number }> {
    return this.using(options.modelId, async (served, dataset) => ({
      datasetId: served.datasetId,
      ...(await served.recommendForText({ dataset, text: options.text, k: options.k })),
    }));
  }

  /**
   * Answers requests group by group (by model unless `groupOf` says more), each group through its
   * served model under a lease; a group that fails gives its error to each of its members, not to the
   * others, and an answer that is an Error stays one.
   */
  async #perModel<R extends { readonly modelId: number }, T>(options: {
    requests: ReadonlyArray<R>;
    groupOf?: (request: R) => string;
    run: (served: ServedModel, dataset: DatasetIndex, group: R[]) => Promise<Array<T | Error>>;
  }): Promise<Array<T | Error>> {
    const { requests } = options;
    const results: Array<T | Error> = new Array(requests.length);
    for (const members of groupBy(requests, options.groupOf ?? ((r) => String(r.modelId))).values()) {
      try {
        const answers = await this.using(requests[members[0]].modelId, (served, dataset) => options.run(served, dataset, members.map((m) => requests[m])));
        members.forEach((m, i) => (results[m] = answers[i]));
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const m of members) results[m] = failure;
      }
    }
    return results;
  }
}

function groupBy<T>(items: ReadonlyArray<T>, key: (item: T) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => {
    const k = key(item);
    const members = groups.get(k);
    if (members) members.push(i);
    else groups.set(k, [i]);
  });
  return groups;
}
