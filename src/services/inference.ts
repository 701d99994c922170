/**
 * Predictions for the API: trained models held in a bounded LRU cache, and batched scoring so that
 * many users of one query cost one forward pass per (model, source) instead of one per user.
 */
import type { CsrMatrix, DatasetMatrices } from "../data/csr.ts";
import { topK } from "../engine/metrics.ts";
import type { Recommender } from "../engine/models/index.ts";
import { capabilitiesOf, type PredictionMode, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { LruCache, RecentAnswers } from "./lru-cache.ts";
import { nextTurn } from "./turns.ts";
import { hasTextModel, hasWordModel } from "./model-names.ts";

/** A trained model ready to score, with what it was trained on. */
export interface LoadedModel {
  readonly modelId: number;
  readonly datasetId: number;
  readonly datasetName: string;
  readonly variant: Variant;
  readonly model: Recommender;
}

/** A dataset's matrices plus the lookup from words to vocabulary columns (for texts sent to the API). */
export interface DatasetIndex {
  readonly matrices: DatasetMatrices;
  /** Word → column of the vocabulary. */
  readonly wordColumn: ReadonlyMap<string, number>;
}

/** Builds the word lookup of a dataset once, when it enters the cache. */
export function indexDataset(matrices: DatasetMatrices): DatasetIndex {
  return { matrices, wordColumn: new Map(matrices.vocabulary.map((word, i) => [word, i])) };
}

/** Which of a user's matrices drives the ranking: clicks (VCM) or review words (VCM-CD, review2click). */
export type ScoreSource = "CLICKS" | "REVIEWS";

/** One user's ranking request. */
export interface RecommendationRequest {
  readonly modelId: number;
  readonly source: ScoreSource;
  /** Row of the user in the model's dataset. */
  readonly row: number;
  readonly k: number;
  /** Leave out the items the user clicked in training (the paper's protocol). */
  readonly excludeSeen: boolean;
}

/** One ranked item. */
export interface RankedItem {
  /** Column of the item in the dataset. */
  readonly item: number;
  /** The model's score (softmax probability π_ui) of the item. */
  readonly score: number;
  /** 1-based position in the ranking. */
  readonly rank: number;
}

/**
 * How the caches learn of changes made by other processes on the same database (another server's
 * deleteModel, a CLI ingest --replace, a training worker): `changed` is cheap and asked before every
 * cached answer; only when it says yes are the cached ids checked against the database.
 */
export interface CacheFreshness {
  /** True when another process may have committed a change since the last call. */
  changed(): boolean;
  /** Of these ids, the models still ready and the datasets that still exist. */
  current(ids: { models: ReadonlyArray<number>; datasets: ReadonlyArray<number> }): Promise<{ models: ReadonlySet<number>; datasets: ReadonlySet<number> }>;
}

/**
 * How long a forward pass waits for more rows while other work uses the engine: requests of
 * different users reach the same pass a few milliseconds apart, and a pass for one row costs nearly
 * what one for ten does (it reads all the decoder's weights either way). A caller alone does not wait.
 */
const BUSY_SHARE_WINDOW_MS = 3;

/** Loads of one request's model before it gives up on a cache that keeps releasing it (other models crowd it out). */
const MAX_MODEL_ATTEMPTS = 3;

/** What that request is told. */
const MODEL_CACHE_BUSY_MESSAGE = "The server is loading other models as fast as this one; try again in a moment.";

/** Rows per forward pass of a request: ≈ 5 ms each at the Yelp shape, so cheap queries get turns between them. */
const SLICE_ROWS = 25;

/** Caches sized for a 2-core server: a few models and datasets, each up to hundreds of MB. */
export interface InferenceCacheSizes {
  readonly models: number;
  readonly datasets: number;
}

export const DEFAULT_INFERENCE_CACHE_SIZES: InferenceCacheSizes = Object.freeze({ models: 4, datasets: 2 });

/**
 * How many recent answers of each kind a loaded model keeps: a user's scores or word distribution is
 * one row over the catalogue or vocabulary (≈ 40 KB at the Yelp shape, so ≈ 10 MB a kind), a bag's
 * first-order word effects for one item a few KB. Answers depend only on the model and its dataset, which never
 * change under one id (a replaced dataset gets a new id, a retrained model too), so they go only with
 * the model: a deleted or evicted model's answers go with it.
 */
const RECENT_ANSWERS = Object.freeze({ rows: 256, effects: 2048 });

/** Scores items and words for users of trained models, through bounded caches. */
export class InferenceService {
  readonly #models: LruCache<number, LoadedModel>;
  /** Keyed by dataset id: a re-ingested (replaced) dataset gets a new id, so nothing cached goes stale. */
  readonly #datasets: LruCache<number, DatasetIndex>;
  /** Engine calls waiting for the next turn of the event loop, by what they compute (model and kind). */
  readonly #pendingLists = new Map<string, PendingList>();
  /** Models in use by running work: an evicted one is disposed only when its last user is done. */
  readonly #leases = new Map<LoadedModel, { busy: number; evicted: boolean }>();
  /** Models whose tensors were released (deleted or evicted while nobody used them): never handed to work. */
  readonly #released = new WeakSet<LoadedModel>();
  readonly #freshness: CacheFreshness | undefined;
  readonly #shareWindowMs: number;
  /** Told of each model id that another process deleted (or failed), for caches kept elsewhere. */
  readonly #onModelGone: (modelId: number) => void;
  /** Callers inside `using` now (the share window is longer while more than one is). */
  #inFlight = 0;
  /** The check in progress, shared by the requests that arrive meanwhile. */
  #checking: Promise<void> | undefined;
  /** Recent engine answers of each loaded model, by kind (dropped with the model: see RECENT_ANSWERS). */
  readonly #recent = new WeakMap<LoadedModel, Map<string, RecentAnswers<unknown>>>();

  constructor(options: {
    loadModel: (modelId: number) => Promise<LoadedModel>;
    loadDataset: (datasetId: number) => Promise<DatasetMatrices>;
    sizes?: InferenceCacheSizes;
    freshness?: CacheFreshness;
    /**
     * How long a forward pass waits for more rows of the same kind: 0 is until the next turn of the
     * event loop (enough when the database answers synchronously, as SQLite does); over a network the
     * lookups of requests that arrive together finish a little apart, and a millisecond or two merges them.
     * While other callers use the engine, the pass waits at least BUSY_SHARE_WINDOW_MS.
     */
    shareWindowMs?: number;
    onModelGone?: (modelId: number) => void;
  }) {
    const sizes = options.sizes ?? DEFAULT_INFERENCE_CACHE_SIZES;
    this.#freshness = options.freshness;
    this.#shareWindowMs = options.shareWindowMs ?? 0;
    this.#onModelGone = options.onModelGone ?? (() => undefined);
    this.#models = new LruCache({
      capacity: sizes.models,
      load: options.loadModel,
      onEvict: (loaded) => {
        const lease = this.#leases.get(loaded);
        if (lease !== undefined) {
          lease.evicted = true;
          return;
        }
        this.#released.add(loaded);
        loaded.model.dispose();
      },
    });
    this.#datasets = new LruCache({
      capacity: sizes.datasets,
      load: async (datasetId) => indexDataset(await options.loadDataset(datasetId)),
    });
  }

  /** The loaded model (from the cache when held and still current). */
  async model(modelId: number): Promise<LoadedModel> {
    await this.#dropStale();
    return this.#models.get(modelId);
  }

  /** The dataset index by dataset id (from the cache when held and still current). */
  async dataset(datasetId: number): Promise<DatasetIndex> {
    await this.#dropStale();
    return this.#datasets.get(datasetId);
  }

  /** Evicts cached models and datasets that another process removed since the last check. */
  #dropStale(): Promise<void> {
    const freshness = this.#freshness;
    if (this.#checking !== undefined) return this.#checking;
    if (freshness === undefined || !freshness.changed()) return Promise.resolve();
    const models = this.#models.keys();
    const datasets = this.#datasets.keys();
    if (models.length === 0 && datasets.length === 0) return Promise.resolve();
    this.#checking = freshness
      .current({ models, datasets })
      .then((current) => {
        for (const id of models) {
          if (current.models.has(id)) continue;
          this.#models.delete(id);
          this.#onModelGone(id);
        }
        for (const id of datasets) if (!current.datasets.has(id)) this.#datasets.delete(id);
      })
      .finally(() => {
        this.#checking = undefined;
      });
    return this.#checking;
  }

  /** The model and its dataset together. */
  async modelWithDataset(modelId: number): Promise<{ loaded: LoadedModel; dataset: DatasetIndex }> {
    const loaded = await this.model(modelId);
    return { loaded, dataset: await this.dataset(loaded.datasetId) };
  }

  /**
   * Runs work that uses a model across awaits: the model stays alive until the work ends, even if the
   * cache evicts it meanwhile (it is disposed then).
   */
  async using<T>(modelId: number, work: (loaded: LoadedModel, dataset: DatasetIndex) => Promise<T>): Promise<T> {
    const loaded = await this.#unreleasedModel(modelId);
    const lease = this.#leases.get(loaded) ?? { busy: 0, evicted: false };
    this.#leases.set(loaded, lease);
    lease.busy += 1;
    this.#inFlight += 1;
    try {
      return await work(loaded, await this.dataset(loaded.datasetId));
    } finally {
      this.#inFlight -= 1;
      lease.busy -= 1;
      if (lease.busy === 0) {
        this.#leases.delete(loaded);
        if (lease.evicted) loaded.model.dispose();
      }
    }
  }

  /**
   * The model as a lease may hold it: one the cache released between its load and now (a deleteModel
   * racing this request) is asked for again, which loads it anew or, its row gone, answers NOT_FOUND.
   */
  async #unreleasedModel(modelId: number): Promise<LoadedModel> {
    for (let attempt = 1; ; attempt += 1) {
      const loaded = await this.model(modelId);
      if (!this.#released.has(loaded)) return loaded;
      if (attempt === MAX_MODEL_ATTEMPTS) throw new UserError(ErrorCode.SERVER_BUSY, MODEL_CACHE_BUSY_MESSAGE);
    }
  }

  /**
   * The recent answers of one kind that a loaded model keeps (created with `capacity` on first use):
   * they go with the model when the cache drops it (RECENT_ANSWERS says why that is enough).
   */
  recentAnswers<T>(loaded: LoadedModel, kind: string, capacity: number): RecentAnswers<T> {
    let kinds = this.#recent.get(loaded);
    if (kinds === undefined) this.#recent.set(loaded, (kinds = new Map()));
    let recent = kinds.get(kind) as RecentAnswers<T> | undefined;
    if (recent === undefined) kinds.set(kind, (recent = new RecentAnswers<T>(capacity)));
    return recent;
  }

  /** Forgets a model (deleted or retrained), releasing its tensors. */
  evictModel(modelId: number): void {
    this.#models.delete(modelId);
  }

  /** Forgets a dataset's matrices (after it changed). */
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
    const results: Array<RankedItem[] | Error> = new Array(requests.length);
    const groups = groupBy(requests, (r) => `${r.modelId}|${r.source}`);
    await forEachGroup(groups, results, async (members) => {
      const { modelId, source } = requests[members[0]];
      await this.using(modelId, async (loaded, dataset) => {
        const mode = sourceMode(source, loaded.variant);
        const { matrices } = dataset;
        const matrix = source === "CLICKS" ? matrices.train : matrices.words;
        const rowOf = await this.#shared({
          loaded,
          key: `scores|${modelId}|${source}`,
          width: matrices.train.cols,
          rows: members.map((m) => requests[m].row),
          run: (rows) => loaded.model.scoreItems({ matrix, rows, sliceRows: SLICE_ROWS }, mode),
        });
        for (const [i, m] of members.entries()) {
          if (i > 0 && i % SLICE_ROWS === 0) await nextTurn();
          const request = requests[m];
          const row = rowOf(request.row);
          const ranked = topK({
            scores: row,
            k: request.k,
            exclude: request.excludeSeen ? rowColumns(matrices.train, request.row) : undefined,
          });
          results[m] = Array.from(ranked, (item, i) => ({ item, score: row[item], rank: i + 1 }));
        }
      });
    });
    return results;
  }

  /** click2review p(w|u) for many (model, row) pairs, one engine call per model. */
  async wordDistributionMany(
    requests: ReadonlyArray<{ readonly modelId: number; readonly row: number }>,
  ): Promise<Array<Float32Array | Error>> {
    const results: Array<Float32Array | Error> = new Array(requests.length);
    await forEachGroup(groupBy(requests, (r) => String(r.modelId)), results, async (members) => {
      await this.using(requests[members[0]].modelId, async (loaded, dataset) => {
        requireWordModel(loaded);
        const rowOf = await this.#shared({
          loaded,
          key: `words|${loaded.modelId}`,
          width: dataset.matrices.vocabulary.length,
          rows: members.map((m) => requests[m].row),
          run: (rows) => loaded.model.wordDistribution({ matrix: dataset.matrices.train, rows, sliceRows: SLICE_ROWS }),
        });
        for (const m of members) results[m] = rowOf(requests[m].row);
      });
    });
    return results;
  }

  /**
   * For many (model, row, item) pairs, the effect of each word of the user's bag on the item's
   * review2click score (VcmModel.wordEffects), aligned with the row's entries of the dataset's bag of
   * words; one engine call per model.
   */
  async wordEffectsMany(
    requests: ReadonlyArray<{ readonly modelId: number; readonly row: number; readonly item: number }>,
  ): Promise<Array<{ readonly words: Int32Array; readonly effects: Float32Array } | Error>> {
    const results: Array<{ readonly words: Int32Array; readonly effects: Float32Array } | Error> = new Array(requests.length);
    await forEachGroup(groupBy(requests, (r) => String(r.modelId)), results, async (members) => {
      await this.using(requests[members[0]].modelId, async (loaded, dataset) => {
        requireWordModel(loaded);
        const { words } = dataset.matrices;
        const effects = await this.#cachedList({
          loaded,
          key: `word-effects|${loaded.modelId}`,
          capacity: RECENT_ANSWERS.effects,
          keyOf: (r) => `${r.row}|${r.item}`,
          requests: members.map((m) => ({ row: requests[m].row, item: requests[m].item })),
          run: (pairs) => loaded.model.wordEffects({ words, pairs }),
        });
        members.forEach((m, i) => (results[m] = { words: rowColumns(words, requests[m].row), effects: effects[i] }));
      });
    });
    return results;
  }

  /**
   * For many (model, row, item, words) requests, the exact relative fall δ(w) of the item's
   * review2click score when each word leaves the user's bag (VcmModel.deletionEffects), aligned with
   * the request's words; one engine call per model.
   */
  async deletionEffectsMany(
    requests: ReadonlyArray<{ readonly modelId: number; readonly row: number; readonly item: number; readonly words: ArrayLike<number> }>,
  ): Promise<Array<Float32Array | Error>> {
    const results: Array<Float32Array | Error> = new Array(requests.length);
    await forEachGroup(groupBy(requests, (r) => String(r.modelId)), results, async (members) => {
      await this.using(requests[members[0]].modelId, async (loaded, dataset) => {
        requireWordModel(loaded);
        // Not kept here: the explanations built from them are (ExplanationService), and another k
        // shortlists other words.
        const effects = await this.#sharedList({
          key: `deletion-effects|${loaded.modelId}`,
          requests: members.map((m) => requests[m]),
          run: (all) => loaded.model.deletionEffects({ words: dataset.matrices.words, requests: all }),
        });
        members.forEach((m, i) => (results[m] = effects[i]));
      });
    });
    return results;
  }

  /** ĉu for many (model, row) pairs, one engine call per model. */
  async capacityMany(
    requests: ReadonlyArray<{ readonly modelId: number; readonly row: number }>,
  ): Promise<Array<number | Error>> {
    const results: Array<number | Error> = new Array(requests.length);
    await forEachGroup(groupBy(requests, (r) => String(r.modelId)), results, async (members) => {
      await this.using(requests[members[0]].modelId, async (loaded, dataset) => {
        if (!capabilitiesOf(loaded.variant).capacity) {
          throw new UserError(
            ErrorCode.BAD_USER_INPUT,
            `Model ${loaded.modelId} is a ${loaded.variant} baseline without an encoder, so it has no capacity; choose a VCM model.`,
          );
        }
        const rows = uniqueRows(members.map((m) => requests[m].row));
        const capacity = await loaded.model.capacity({ matrix: dataset.matrices.train, rows: rows.list });
        for (const m of members) results[m] = capacity[rows.position.get(requests[m].row)!];
      });
    });
    return results;
  }

  /**
   * #cachedList for forward passes over rows: concurrent requests (and all users of one request) share
   * one pass over their distinct rows that no recent answer holds. Resolves to a lookup of each row's
   * slice of the output.
   */
  async #shared(options: {
    loaded: LoadedModel;
    key: string;
    width: number;
    rows: ReadonlyArray<number>;
    run: (rows: ReadonlyArray<number>) => Promise<Float32Array>;
  }): Promise<(row: number) => Float32Array> {
    const slices = await this.#cachedList<number, Float32Array>({
      loaded: options.loaded,
      key: options.key,
      capacity: RECENT_ANSWERS.rows,
      keyOf: (row) => String(row),
      // A copy: a kept slice would keep the whole pass's output alive.
      keep: (slice) => slice.slice(),
      requests: options.rows,
      // One pass over the distinct rows of every caller; each request gets its row's slice.
      run: async (all) => {
        const position = new Map<number, number>();
        for (const row of all) if (!position.has(row)) position.set(row, position.size);
        const output = await options.run([...position.keys()]);
        return all.map((row) => output.subarray(position.get(row)! * options.width, (position.get(row)! + 1) * options.width));
      },
    });
    const byRow = new Map(options.rows.map((row, i) => [row, slices[i]]));
    return (row) => byRow.get(row)!;
  }

  /**
   * The model's recent answers for the requests that have one, and #sharedList for the others (whose
   * answers are then kept, through `keep`). Callers only read the answers they get.
   */
  async #cachedList<R, T>(options: {
    loaded: LoadedModel;
    key: string;
    capacity: number;
    keyOf: (request: R) => string;
    keep?: (answer: T) => T;
    requests: ReadonlyArray<R>;
    run: (all: ReadonlyArray<R>) => Promise<T[]>;
  }): Promise<T[]> {
    const { loaded, key, requests, keyOf } = options;
    const recent = this.recentAnswers<T>(loaded, key, options.capacity);
    const answers: T[] = new Array(requests.length);
    const missing: number[] = [];
    requests.forEach((request, i) => {
      const held = recent.get(keyOf(request));
      if (held === undefined) missing.push(i);
      else answers[i] = held;
    });
    if (missing.length === 0) return answers;
    const computed = await this.#sharedList({ key, requests: missing.map((i) => requests[i]), run: options.run });
    missing.forEach((i, j) => {
      answers[i] = computed[j];
      recent.set(keyOf(requests[i]), options.keep === undefined ? computed[j] : options.keep(computed[j]));
    });
    return answers;
  }

  /**
   * Joins requests to the engine call of the same kind that is about to run, or schedules one: the
   * requests of callers that arrive before the call starts (the next turn of the event loop, or after
   * the share window) go into one call, which answers each in order. Concurrent queries' explanations then share one pass over
   * the decoder's weights instead of one each (a pass for one user reads all of them to score a few
   * items). Resolves to this caller's answers, in its order.
   */
  async #sharedList<R, T>(options: { key: string; requests: ReadonlyArray<R>; run: (all: ReadonlyArray<R>) => Promise<T[]> }): Promise<T[]> {
    let call = this.#pendingLists.get(options.key) as PendingList<R, T> | undefined;
    if (call === undefined) {
      const created: PendingList<R, T> = { requests: [], output: Promise.resolve([]) };
      created.output = new Promise<T[]>((resolve, reject) => {
        const start = (): void => {
          this.#pendingLists.delete(options.key);
          options.run(created.requests).then(resolve, reject);
        };
        const windowMs = this.#inFlight > 1 ? Math.max(this.#shareWindowMs, BUSY_SHARE_WINDOW_MS) : this.#shareWindowMs;
        if (windowMs > 0) setTimeout(start, windowMs);
        else setImmediate(start);
      });
      this.#pendingLists.set(options.key, created as PendingList);
      call = created;
    }
    const offset = call.requests.length;
    call.requests.push(...options.requests);
    const output = await call.output;
    await nextTurn();
    return output.slice(offset, offset + options.requests.length);
  }

  /**
   * Cold start from text alone (review2click, VCM-CD): the text's bag of words over the dataset's
   * vocabulary goes through VAEy's encoder and VAEx's decoder.
   */
  async recommendForText(options: {
    modelId: number;
    text: string;
    k: number;
    tokenize: (text: string) => ReadonlyArray<string>;
  }): Promise<{ items: RankedItem[]; knownWords: string[]; unknownTokens: number }> {
    return this.using(options.modelId, (loaded, dataset) => this.#recommendForLoadedText({ ...options, loaded, dataset }));
  }

  async #recommendForLoadedText(options: {
    loaded: LoadedModel;
    dataset: DatasetIndex;
    text: string;
    k: number;
    tokenize: (text: string) => ReadonlyArray<string>;
  }): Promise<{ items: RankedItem[]; knownWords: string[]; unknownTokens: number }> {
    const { loaded, dataset } = options;
    requireTextRanking(loaded);
    const tokens = options.tokenize(options.text);
    const counts = new Map<number, number>();
    let unknownTokens = 0;
    for (const token of tokens) {
      const w = dataset.wordColumn.get(token);
      if (w === undefined) unknownTokens += 1;
      else counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    if (counts.size === 0) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        tokens.length === 0
          ? "The text has no words to score; write a few words about what the user likes."
          : `None of the ${tokens.length} words of the text are in the vocabulary of dataset "${loaded.datasetName}"; use words its reviews use.`,
      );
    }
    const columns = [...counts.keys()].sort((a, b) => a - b);
    const matrix: CsrMatrix = {
      rows: 1,
      cols: dataset.matrices.vocabulary.length,
      indptr: Int32Array.from([0, columns.length]),
      indices: Int32Array.from(columns),
      values: Float32Array.from(columns, (w) => counts.get(w)!),
    };
    const scores = await loaded.model.scoreItems({ matrix, rows: [0] }, "vcm-cd");
    const ranked = topK({ scores, k: options.k });
    return {
      items: Array.from(ranked, (item, i) => ({ item, score: scores[item], rank: i + 1 })),
      knownWords: columns.map((w) => dataset.matrices.vocabulary[w]),
      unknownTokens,
    };
  }
}

/** An engine call over a list of requests that has not started yet (#sharedList). */
interface PendingList<R = unknown, T = unknown> {
  readonly requests: R[];
  output: Promise<T[]>;
}

/** Rejects models that decode no words from clicks (click2review: top words, explanations, highlights). */
export function requireWordModel(loaded: LoadedModel): void {
  if (!hasWordModel(loaded.variant)) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Model ${loaded.modelId} is a ${loaded.variant} baseline that decodes no words from clicks; choose a VCM model for top words, explanations or highlights.`,
    );
  }
}

/** Rejects models that cannot rank items from words alone (review2click, VCM-CD). */
function requireTextRanking(loaded: LoadedModel): void {
  if (!hasTextModel(loaded.variant)) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Model ${loaded.modelId} is a ${loaded.variant} baseline with no text model; choose a VCM model (or cdl, cvae, deepconn) to rank from text.`,
    );
  }
}

function sourceMode(source: ScoreSource, variant: Variant): PredictionMode {
  if (source === "CLICKS") return "vcm";
  if (!hasTextModel(variant)) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `A ${variant} baseline cannot rank from reviews (source: REVIEWS); use source: CLICKS or a VCM model.`,
    );
  }
  return "vcm-cd";
}

/** The columns of one CSR row (a user's training clicks). */
export function rowColumns(matrix: CsrMatrix, row: number): Int32Array {
  return matrix.indices.subarray(matrix.indptr[row], matrix.indptr[row + 1]);
}

/** Runs each group; a group that fails gives its error to each of its members, not to the others. */
async function forEachGroup<T>(
  groups: Map<string, number[]>,
  results: Array<T | Error>,
  run: (members: number[]) => Promise<void>,
): Promise<void> {
  for (const members of groups.values()) {
    try {
      await run(members);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const m of members) results[m] = failure;
    }
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

function uniqueRows(rows: ReadonlyArray<number>): { list: number[]; position: Map<number, number> } {
  const position = new Map<number, number>();
  const list: number[] = [];
  for (const row of rows) {
    if (!position.has(row)) {
      position.set(row, list.length);
      list.push(row);
    }
  }
  return { list, position };
}
