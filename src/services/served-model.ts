/**
 * One trained model as the API serves it: its inference (scores, word distributions, capacity, word
 * effects, deletion effects, explanations, cold start from text) and the answers it gave last. Every
 * engine call goes through the shared calls (shared-engine-calls.ts), so concurrent requests share
 * one; the explanation rules are pure functions (engine/explanation-rules.ts) over the outputs.
 */
import type { CsrMatrix } from "../data/csr.ts";
import {
  DEFAULT_EXPLANATION_RULE,
  EFFECT_SHORTLIST,
  explainPair,
  shortlistByEffect,
  ranksOf,
  sumOf,
  type BagEffects,
  type ClickEffects,
  type HistoryScores,
  type Explanation,
  type ExplanationRule,
  type ExplanationWord,
  type ItemWordStats,
} from "../engine/explanation-rules.ts";
import { topK } from "../engine/metrics.ts";
import { itemBlocks } from "../engine/running-top-k.ts";
import type { Recommender } from "../engine/models/index.ts";
import type { ApproximateRanker } from "../engine/retrieval/approximate-ranker.ts";
import { usesApproximateRetrieval, type RetrievalMode } from "../engine/retrieval/retrieval-mode.ts";
import { capabilitiesOf, type PredictionMode, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";
import type { DatasetIndex } from "./dataset-index.ts";
import { recordAnswerCacheHits } from "../observability/metrics.ts";
import { RecentAnswers } from "./lru-cache.ts";
import { hasTextModel, hasWordModel } from "./model-names.ts";
import type { SharedEngineCalls } from "./shared-engine-calls.ts";
import { nextTurn } from "./turns.ts";

/** A trained model ready to score, with what it was trained on. */
export interface LoadedModel {
  readonly modelId: number;
  readonly datasetId: number;
  readonly datasetName: string;
  readonly variant: Variant;
  readonly model: Recommender;
}

/** Which of a user's matrices drives the ranking: clicks (VCM) or review words (VCM-CD, review2click). */
export type ScoreSource = "CLICKS" | "REVIEWS";

/** One ranked item. */
export interface RankedItem {
  /** Column of the item in the dataset. */
  readonly item: number;
  /** The model's score (softmax probability π_ui) of the item. */
  readonly score: number;
  /** 1-based position in the ranking. */
  readonly rank: number;
}

/** One user's ranking under a served model. */
export interface RankingRequest {
  /** Row of the user in the model's dataset. */
  readonly row: number;
  readonly k: number;
  /** Leave out the items the user clicked in training (the paper's protocol). */
  readonly excludeSeen: boolean;
}

/** One (user, item) pair to explain under a served model. */
export interface PairRequest {
  /** Row of the user in the model's dataset. */
  readonly row: number;
  /** Column of the item in the model's dataset. */
  readonly item: number;
  /** Number of words to return. */
  readonly k: number;
  /** How the words are chosen (default "effect"). */
  readonly rule?: ExplanationRule;
  /** Whether to find the click reasons too (default true; false leaves `clicks` empty and runs no click pass). */
  readonly clicks?: boolean;
}

/** A what-if history as a model reads it (ServedModel.readHistory). */
export interface WhatIfReading {
  /** The one-row index (row 0) the model's calls read. */
  readonly view: DatasetIndex;
  /** CLICKS when any clicked item is known (VCM), else REVIEWS (VCM-CD from the text alone). */
  readonly source: ScoreSource;
  /** Columns of the clicked items the model knows, ascending. */
  readonly knownItems: ReadonlyArray<number>;
  /** Clicked ids the model does not know (not in the dataset, or appended after its training), in the order given. */
  readonly unknownItemIds: ReadonlyArray<string>;
  /** Distinct words of the text in the vocabulary, in vocabulary order. */
  readonly knownWords: ReadonlyArray<string>;
  /** Tokens of the text (after stop-word removal) not in the vocabulary. */
  readonly unknownTokens: number;
}

/** An explanation with the words spelled out. */
export interface NamedExplanation extends Omit<Explanation, "words"> {
  readonly words: ReadonlyArray<ExplanationWord & { readonly word: string }>;
}

/** A pair of the "effect" rule (its index in the call) and the words whose exact deletion effects it needs. */
interface Shortlist {
  readonly index: number;
  readonly words: Int32Array;
}

/** One request of #reasonEffects' shared call: a click pair (every click of the row), or a word request. */
type ReasonRequest = { readonly row: number; readonly item: number } | WordReasonRequest;
type WordReasonRequest = { readonly row: number; readonly item: number; readonly words: ArrayLike<number> };

/** Rows per forward pass of a request: ≈ 5 ms each at the Yelp shape, so cheap queries get turns between them. */
const SLICE_ROWS = 25;

/**
 * How many recent answers of each kind a served model keeps: a user's scores or word distribution is
 * one row over the catalogue or vocabulary (≈ 40 KB at the Yelp shape, so ≈ 10 MB a kind), a bag's
 * first-order word effects for one item a few KB (a history's click effects for one item less: each
 * kind holds `effects` of them), an explanation a few hundred bytes (k words with their weights). Answers depend on the model and the user's history: they are kept under the row's
 * stamp (DatasetIndex.rowKey), so an append that changes a user's history makes them miss, and
 * `forgetRows` drops them.
 */
const RECENT_ANSWERS = Object.freeze({ rows: 256, effects: 2048, explanations: 2048 });

/** A loaded model with its inference and its recent answers. */
export class ServedModel implements LoadedModel {
  readonly modelId: number;
  readonly datasetId: number;
  readonly datasetName: string;
  readonly variant: Variant;
  readonly model: Recommender;
  readonly #calls: SharedEngineCalls;
  /** The answers this model gave last, by kind (each bounded by RECENT_ANSWERS): held until the model leaves the cache. */
  readonly #recent = new Map<string, RecentAnswers<unknown>>();
  /** The index that ranks users' items when retrieval is approximate for this model (built with it, dropped with it). */
  #ranker: ApproximateRanker | undefined;

  constructor(options: { loaded: LoadedModel; calls: SharedEngineCalls; ranker?: ApproximateRanker }) {
    const { loaded } = options;
    this.modelId = loaded.modelId;
    this.datasetId = loaded.datasetId;
    this.datasetName = loaded.datasetName;
    this.variant = loaded.variant;
    this.model = loaded.model;
    this.#calls = options.calls;
    this.#ranker = options.ranker;
  }

  /**
   * A served model whose rankings go through an approximate index when `retrieval` says so for its
   * item count (engine/retrieval/approximate-ranker.ts); a model whose logits are not one inner
   * product per item (the baselines) is always ranked exactly.
   */
  static async load(options: { loaded: LoadedModel; calls: SharedEngineCalls; retrieval: RetrievalMode }): Promise<ServedModel> {
    const { model } = options.loaded;
    const ranking = model.innerProductRanking?.();
    if (ranking === undefined || !usesApproximateRetrieval(options.retrieval, model.numItems)) return new ServedModel(options);
    let ranker: ApproximateRanker;
    try {
      // Loaded only here, so a server that ranks exactly never loads the index's native addon.
      const retrieval = await import("../engine/retrieval/approximate-ranker.ts");
      ranker = await retrieval.ApproximateRanker.build(ranking);
    } catch (error) {
      model.dispose();
      // The addon's own message names files of this machine: it stays out of the answer.
      console.error(`[vcm] indexing model ${options.loaded.modelId} for approximate retrieval failed:`, error);
      throw new UserError(
        ErrorCode.MODEL_NOT_READY,
        `Model ${options.loaded.modelId} (${model.numItems.toLocaleString("en-US")} items) could not be indexed for approximate retrieval on this server (its index did not load or did not fit in memory); serve it with --retrieval exact.`,
      );
    }
    return new ServedModel({ ...options, ranker });
  }

  /** How this model's rankings are made: through the index (its build seconds and estimated bytes) or by scoring every item. */
  get retrieval(): { readonly approximate: false } | { readonly approximate: true; readonly buildSeconds: number; readonly indexBytes: number } {
    const ranker = this.#ranker;
    return ranker === undefined ? { approximate: false } : { approximate: true, buildSeconds: ranker.buildSeconds, indexBytes: ranker.bytes };
  }

  /** Releases the model's tensors, its index and its recent answers. */
  dispose(): void {
    this.#recent.clear();
    this.#ranker = undefined;
    this.model.dispose();
  }

  /** The top-k items of each request from one source, in request order (one engine call for all of them). */
  async recommend(options: { dataset: DatasetIndex; source: ScoreSource; requests: ReadonlyArray<RankingRequest> }): Promise<RankedItem[][]> {
    const { dataset, source, requests } = options;
    const mode = sourceMode(source, this.variant);
    const clicks = this.#clicks(dataset);
    const matrix = source === "CLICKS" ? clicks : dataset.matrices.words;
    const ranker = this.#ranker;
    if (ranker !== undefined) return this.#retrieve({ ranker, dataset, source, matrix, requests });
    if (itemBlocks(this.model.numItems).length > 1) return this.#rankInBlocks({ dataset, source, mode, matrix, clicks, requests });
    const rowOf = await this.#rows({
      kind: `scores|${source}`,
      dataset,
      width: this.model.numItems,
      rows: requests.map((r) => r.row),
      run: (rows) => this.model.scoreItems({ matrix, rows, sliceRows: SLICE_ROWS }, mode),
    });
    const results: RankedItem[][] = [];
    for (const [i, request] of requests.entries()) {
      if (i > 0 && i % SLICE_ROWS === 0) await nextTurn();
      const row = rowOf(request.row);
      const ranked = topK({
        scores: row,
        k: request.k,
        exclude: request.excludeSeen ? rowColumns(clicks, request.row) : undefined,
      });
      results.push(Array.from(ranked, (item, rank) => ({ item, score: row[item], rank: rank + 1 })));
    }
    return results;
  }

  /**
   * recommend for a catalogue of more than one item block: a row over every item is too large to keep
   * (0.8 MB at 200,000 items), so each request's ranking is kept instead and the engine ranks in item
   * blocks (Recommender.rankItems), one call per exclusion setting at the deepest k asked.
   */
  async #rankInBlocks(o: {
    dataset: DatasetIndex;
    source: ScoreSource;
    mode: PredictionMode;
    matrix: CsrMatrix;
    clicks: CsrMatrix;
    requests: ReadonlyArray<RankingRequest>;
  }): Promise<RankedItem[][]> {
    const { dataset, matrix, clicks } = o;
    return this.#cachedList({
      kind: `ranked|${o.source}`,
      dataset,
      capacity: RECENT_ANSWERS.rows,
      keyOf: (r) => keyWith(dataset.rowKey(r.row), `${r.k}|${r.excludeSeen}`),
      requests: o.requests,
      run: async (all) => {
        const answers: RankedItem[][] = new Array(all.length);
        for (const excludeSeen of [false, true]) {
          const asked = all.flatMap((r, i) => (r.excludeSeen === excludeSeen ? [i] : []));
          if (asked.length === 0) continue;
          const rows = uniqueRows(asked.map((i) => all[i].row));
          const k = Math.max(...asked.map((i) => all[i].k));
          const ranked = await this.model.rankItems({ input: { matrix, rows: rows.list, sliceRows: SLICE_ROWS }, mode: o.mode, k, exclude: excludeSeen ? clicks : undefined });
          for (const i of asked) {
            const base = rows.position.get(all[i].row)! * k;
            const list: RankedItem[] = [];
            for (let j = 0; j < all[i].k && ranked.items[base + j] >= 0; j += 1) list.push({ item: ranked.items[base + j], score: ranked.scores[base + j], rank: j + 1 });
            answers[i] = list;
          }
        }
        return answers;
      },
    });
  }

  /**
   * recommend through the approximate index: one shared engine call for the requests no recent answer
   * holds, each answer kept under its row, k and exclusion (a ranking of other k is not a prefix of it).
   */
  async #retrieve(options: { ranker: ApproximateRanker; dataset: DatasetIndex; source: ScoreSource; matrix: CsrMatrix; requests: ReadonlyArray<RankingRequest> }): Promise<RankedItem[][]> {
    const { ranker, dataset, source, matrix } = options;
    const clicks = this.#clicks(dataset);
    const mode = sourceMode(source, this.variant);
    return this.#cachedList({
      kind: `retrieved|${source}`,
      dataset,
      capacity: RECENT_ANSWERS.rows,
      keyOf: (r) => keyWith(dataset.rowKey(r.row), `${r.k}|${r.excludeSeen}`),
      requests: options.requests,
      run: async (all) => {
        const found = await ranker.top({
          input: { matrix, rows: all.map((r) => r.row), sliceRows: SLICE_ROWS },
          mode,
          requests: all.map((r) => ({ k: r.k, exclude: r.excludeSeen ? rowColumns(clicks, r.row) : [] })),
        });
        return found.map(({ items, scores }) => Array.from(items, (item, i) => ({ item, score: scores[i], rank: i + 1 })));
      },
    });
  }

  /** click2review p(w|u) of each row, in order (one engine call). */
  async wordDistributions(options: { dataset: DatasetIndex; rows: ReadonlyArray<number> }): Promise<Float32Array[]> {
    requireWordModel(this);
    const { dataset } = options;
    const matrix = this.#clicks(dataset);
    const rowOf = await this.#rows({
      kind: "words",
      dataset,
      width: dataset.matrices.vocabulary.length,
      rows: options.rows,
      run: (rows) => this.model.wordDistribution({ matrix, rows, sliceRows: SLICE_ROWS }),
    });
    return options.rows.map(rowOf);
  }

  /** ĉu of each row, in order (one engine call over the distinct rows). */
  async capacity(options: { dataset: DatasetIndex; rows: ReadonlyArray<number> }): Promise<number[]> {
    if (!capabilitiesOf(this.variant).capacity) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `Model ${this.modelId} is a ${this.variant} baseline without an encoder, so it has no capacity; choose a VCM model.`,
      );
    }
    const rows = uniqueRows(options.rows);
    const capacity = await this.model.capacity({ matrix: this.#clicks(options.dataset), rows: rows.list });
    return options.rows.map((row) => capacity[rows.position.get(row)!]);
  }

  /**
   * For each (row, item) pair, the effect of each word of the user's bag on the item's review2click
   * score (Recommender.wordEffects), aligned with the row's entries of the dataset's bag of words.
   */
  async wordEffects(options: { dataset: DatasetIndex; pairs: ReadonlyArray<{ readonly row: number; readonly item: number }> }): Promise<BagEffects[]> {
    requireWordModel(this);
    const { dataset } = options;
    const { words } = dataset.matrices;
    const effects = await this.#cachedList({
      kind: "word-effects",
      dataset,
      capacity: RECENT_ANSWERS.effects,
      keyOf: (r) => keyWith(dataset.rowKey(r.row), r.item),
      requests: options.pairs.map((p) => ({ row: p.row, item: p.item })),
      run: (pairs) => this.model.wordEffects({ words, pairs }),
    });
    return options.pairs.map((p, i) => ({ words: rowColumns(words, p.row), effects: effects[i] }));
  }

  /**
   * The exact deletion effects of explanations, both kinds in one engine call shared by concurrent
   * requests (Recommender.reasonEffects: the deleted histories and the deleted bags go through VAEx's
   * output layer in the same passes, where a pass of their own for the few click rows read it again):
   * for each click pair, δ(j) of every click j of the user's training history, aligned with the row's
   * clicks, kept (they hold for every k and rule); for each word request, δ(w) of each word asked
   * for, not kept (the explanations built from them are, and another k shortlists other words).
   */
  async #reasonEffects(options: {
    dataset: DatasetIndex;
    clickPairs: ReadonlyArray<{ readonly row: number; readonly item: number }>;
    wordRequests: ReadonlyArray<{ readonly row: number; readonly item: number; readonly words: ArrayLike<number> }>;
  }): Promise<{ clicks: ClickEffects[]; words: Float32Array[] }> {
    const { dataset, clickPairs, wordRequests } = options;
    const train = this.#clicks(dataset);
    const { words } = dataset.matrices;
    const recent = this.#recentAnswers<Float32Array>("click-effects", RECENT_ANSWERS.effects);
    const clickKey = (p: { readonly row: number; readonly item: number }) => keyWith(dataset.rowKey(p.row), p.item);
    const held = clickPairs.map((p) => {
      const key = clickKey(p);
      return key === undefined ? undefined : recent.get(key);
    });
    const missing = clickPairs.flatMap((p, i) => (held[i] === undefined ? [p] : []));
    recordAnswerCacheHits("click-effects", clickPairs.length - missing.length);
    const requests: ReasonRequest[] = [...missing.map((p) => ({ row: p.row, item: p.item })), ...wordRequests];
    const computed =
      requests.length === 0
        ? []
        : await this.#calls.run({
            key: `reason-effects|${this.modelId}|${dataset.scope}`,
            requests,
            run: async (all) => {
              const clickAt: number[] = [];
              const wordAt: number[] = [];
              all.forEach((r, n) => ("words" in r ? wordAt : clickAt).push(n));
              const effects = await this.model.reasonEffects({
                clicks: train,
                words,
                clickPairs: clickAt.map((n) => all[n]),
                wordRequests: wordAt.map((n) => all[n] as WordReasonRequest),
              });
              const answers: Float32Array[] = new Array(all.length);
              clickAt.forEach((n, j) => (answers[n] = effects.clicks[j]));
              wordAt.forEach((n, j) => (answers[n] = effects.words[j]));
              return answers;
            },
          });
    let next = 0;
    const clicks = clickPairs.map((p, i) => {
      let effects = held[i];
      if (effects === undefined) {
        effects = computed[next];
        next += 1;
        const key = clickKey(p);
        if (key !== undefined) recent.set(key, effects);
      }
      return { clicks: rowColumns(train, p.row), effects };
    });
    return { clicks, words: computed.slice(missing.length) };
  }

  /**
   * For each (row, item) pair, the item's VCM score from the user's whole training history and for a
   * user with no clicks, with its place in that empty history's ranking (the "history" and "popularity"
   * click reasons, ClickReasonKind): the rows' scores are the rankings' (kept, so a ranking just asked for
   * costs nothing), the empty history's one pass is kept for the model's life.
   */
  async historyScores(options: { dataset: DatasetIndex; pairs: ReadonlyArray<{ readonly row: number; readonly item: number }> }): Promise<HistoryScores[]> {
    const { dataset, pairs } = options;
    const clicks = this.#clicks(dataset);
    const [rowOf, [prior]] = await Promise.all([
      this.#rows({
        kind: "scores|CLICKS",
        dataset,
        width: this.model.numItems,
        rows: pairs.map((p) => p.row),
        run: (rows) => this.model.scoreItems({ matrix: clicks, rows, sliceRows: SLICE_ROWS }, "vcm"),
      }),
      this.#cachedList<string, { scores: Float32Array; ranks: Int32Array }>({
        kind: "prior",
        dataset,
        capacity: 1,
        keyOf: (key) => key,
        requests: ["∅"],
        // Concurrent callers join one call: each of them gets the same pass.
        run: async (all) => {
          const empty: CsrMatrix = { rows: 1, cols: clicks.cols, indptr: Int32Array.from([0, 0]), indices: new Int32Array(0), values: new Float32Array(0) };
          const scores = await this.model.scoreItems({ matrix: empty, rows: [0] }, "vcm");
          const prior = { scores, ranks: ranksOf(scores) };
          return all.map(() => prior);
        },
      }),
    ]);
    return pairs.map((p) => ({ score: rowOf(p.row)[p.item], priorScore: prior.scores[p.item], priorRank: prior.ranks[p.item] }));
  }

  /** The explanations this model holds for the pairs (undefined where it holds none), without touching the engine. */
  heldExplanations(options: { dataset: DatasetIndex; pairs: ReadonlyArray<PairRequest> }): Array<NamedExplanation | undefined> {
    const recent = this.#recentAnswers<NamedExplanation>("explanations", RECENT_ANSWERS.explanations);
    return options.pairs.map((pair) => {
      const key = explanationKey(options.dataset, pair);
      return key === undefined ? undefined : recent.get(key);
    });
  }

  /**
   * Drops the answers kept for these rows (their histories changed in an append); answers for other
   * rows stay. Explanations also read the item word statistics, so all of them go when the reviews changed.
   */
  forgetRows(options: { rows: ReadonlyArray<number>; reviewsChanged: boolean }): void {
    const rows = new Set(options.rows.map(String));
    for (const [kind, recent] of this.#recent) {
      if (kind === "explanations" && options.reviewsChanged) recent.clear();
      else recent.deleteWhere((key) => rows.has(key.slice(0, key.indexOf("|"))));
    }
  }

  /**
   * Explains each pair, in order, and keeps the answers (heldExplanations gives them again): one
   * click2review call for the users, for the "effect" rule the first-order word effects, then one call
   * for the exact deletions of both kinds (#reasonEffects): the shortlisted words of the "effect" pairs
   * and the clicks of the pairs that want them, whatever their rule; beside them, the history scores
   * (historyScores) of the pairs that want clicks. A pair whose effects failed gets that error; the
   * others are answered (a failed click or history call fails every pair of the call).
   */
  async explain(options: { dataset: DatasetIndex; pairs: ReadonlyArray<PairRequest> }): Promise<Array<NamedExplanation | Error>> {
    const { dataset, pairs } = options;
    const withClicks = pairs.flatMap((p, i) => (p.clicks === false ? [] : [i]));
    const clickPairs = withClicks.map((i) => pairs[i]);
    // The history scores need nothing of the word path, so they share the engine's time with it.
    const historiesAnswered = withClicks.length === 0 ? Promise.resolve([] as HistoryScores[]) : this.historyScores({ dataset, pairs: clickPairs }).catch(asError);
    const [{ distributions, stats, effects, shortlisted }, historyAnswer] = await Promise.all([this.#wordInputs({ dataset, pairs }), historiesAnswered]);
    if (historyAnswer instanceof Error) return pairs.map(() => historyAnswer);
    const histories = new Map(withClicks.map((i, j) => [i, historyAnswer[j]]));
    const clickEffects = new Map<number, ClickEffects>();
    if (withClicks.length > 0 || shortlisted.length > 0) {
      try {
        const exact = await this.#reasonEffects({
          dataset,
          clickPairs,
          wordRequests: shortlisted.map((s) => ({ row: pairs[s.index].row, item: pairs[s.index].item, words: s.words })),
        });
        withClicks.forEach((i, j) => clickEffects.set(i, exact.clicks[j]));
        shortlisted.forEach((s, j) => effects.set(s.index, { words: s.words, effects: exact.words[j] }));
      } catch (error) {
        const failed = asError(error);
        if (withClicks.length > 0) return pairs.map(() => failed);
        for (const s of shortlisted) effects.set(s.index, failed);
      }
    }
    const { vocabulary } = dataset.matrices;
    // Each user's words are ranked once per call, as deep as any of their pairs needed.
    const rankedByRow = new Map<number, { order: Int32Array; mass: number }>();
    const recent = this.#recentAnswers<NamedExplanation>("explanations", RECENT_ANSWERS.explanations);
    return pairs.map((pair, i) => {
      const distribution = distributions[i];
      const bagEffects = effects.get(i);
      if (bagEffects instanceof Error) return bagEffects;
      let ranked = rankedByRow.get(pair.row);
      if (ranked === undefined) {
        ranked = { order: new Int32Array(0), mass: sumOf(distribution) };
        rankedByRow.set(pair.row, ranked);
      }
      const cache = ranked;
      const explanation = explainPair({
        stats,
        userWords: distribution,
        userMass: cache.mass,
        userTopWords: (depth) => {
          if (cache.order.length < depth) cache.order = topK({ scores: distribution, k: depth });
          return cache.order;
        },
        item: pair.item,
        k: pair.k,
        rule: pair.rule,
        bagEffects,
        clickEffects: clickEffects.get(i),
        history: histories.get(i),
      });
      const named: NamedExplanation = { ...explanation, words: explanation.words.map((w) => ({ ...w, word: vocabulary[w.wordIndex] })) };
      const key = explanationKey(dataset, pair);
      if (key !== undefined) recent.set(key, named);
      return named;
    });
  }

  /**
   * What the word part of the explanations needs: the users' click2review distributions, the item word
   * statistics, the word effects known so far and the shortlists whose exact deletions are still to score.
   */
  async #wordInputs(options: { dataset: DatasetIndex; pairs: ReadonlyArray<PairRequest> }): Promise<{
    distributions: Float32Array[];
    stats: ItemWordStats;
    effects: Map<number, BagEffects | Error>;
    shortlisted: ReadonlyArray<Shortlist>;
  }> {
    const { dataset, pairs } = options;
    const distributions = await this.wordDistributions({ dataset, rows: pairs.map((p) => p.row) });
    const stats = await dataset.itemWordStats();
    return { distributions, stats, ...(await this.#bagEffects({ dataset, stats, pairs, distributions })) };
  }

  /**
   * The "effect" rule's first step, for its pairs of items with review text: the first-order effects
   * of every word of the user's bag (one engine call) and a shortlist of the EFFECT_SHORTLIST · k best
   * words by p(w|u) · e(w) among those with lift > 1 and e(w) > 0, whose exact deletion effects δ(w)
   * explain() then scores (#reasonEffects). Only the shortlisted words are passed on, so explainPair
   * lists only those with δ(w) > 0. Pairs with nothing to shortlist get their (final) effects here.
   */
  async #bagEffects(options: {
    dataset: DatasetIndex;
    stats: ItemWordStats;
    pairs: ReadonlyArray<PairRequest>;
    distributions: ReadonlyArray<Float32Array>;
  }): Promise<{ effects: Map<number, BagEffects | Error>; shortlisted: Shortlist[] }> {
    const { dataset, stats, pairs, distributions } = options;
    const effects = new Map<number, BagEffects | Error>();
    const shortlisted: Shortlist[] = [];
    const chosen = pairs.flatMap((p, i) => ((p.rule ?? DEFAULT_EXPLANATION_RULE) === "effect" && stats.itemTotals[p.item] > 0 ? [i] : []));
    if (chosen.length === 0) return { effects, shortlisted };
    let firstOrder: BagEffects[];
    try {
      firstOrder = await this.wordEffects({ dataset, pairs: chosen.map((i) => pairs[i]) });
    } catch (error) {
      for (const i of chosen) effects.set(i, asError(error));
      return { effects, shortlisted };
    }
    chosen.forEach((i, j) => {
      const bag = firstOrder[j];
      if (bag.words.length === 0) {
        effects.set(i, bag);
        return;
      }
      const pair = pairs[i];
      const words = shortlistByEffect({ stats, userWords: distributions[i], item: pair.item, n: EFFECT_SHORTLIST * pair.k, bag });
      // No word pulls toward the item: the rule lists none.
      if (words.length === 0) effects.set(i, { words: bag.words, effects: new Float32Array(bag.words.length) });
      else shortlisted.push({ index: i, words });
    });
    return { effects, shortlisted };
  }

  /**
   * Cold start from text alone (review2click, VCM-CD): the text, tokenised as the dataset's reviews
   * were, becomes a bag of words over its vocabulary and goes through VAEy's encoder and VAEx's decoder.
   */
  async recommendForText(options: { dataset: DatasetIndex; text: string; k: number }): Promise<{ items: RankedItem[]; knownWords: string[]; unknownTokens: number }> {
    const { dataset } = options;
    requireTextRanking(this);
    const tokens = dataset.tokenize(options.text);
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
          : `None of the ${tokens.length} words of the text are in the vocabulary of dataset "${this.datasetName}"; use words its reviews use.`,
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
    const ranked = await this.model.rankItems({ input: { matrix, rows: [0] }, mode: "vcm-cd", k: options.k });
    const found = ranked.items.indexOf(-1);
    return {
      items: Array.from(found === -1 ? ranked.items : ranked.items.subarray(0, found), (item, i) => ({ item, score: ranked.scores[i], rank: i + 1 })),
      knownWords: columns.map((w) => dataset.matrices.vocabulary[w]),
      unknownTokens,
    };
  }

  /**
   * Reads a history that is not stored (recommendFor) as this model sees it: the clicked items it was
   * trained with (ids it does not know, or items appended after its training, are listed back) and the
   * text's words in the dataset's vocabulary, as a one-row what-if index. BAD_USER_INPUT when nothing
   * of it is known.
   */
  readHistory(options: { dataset: DatasetIndex; clicks: ReadonlyArray<string>; text: string | null }): WhatIfReading {
    const { dataset } = options;
    const columns = new Set<number>();
    const unknownItemIds: string[] = [];
    for (const id of new Set(options.clicks)) {
      const column = dataset.itemColumn(id);
      if (column === undefined || column >= this.model.numItems) unknownItemIds.push(id);
      else columns.add(column);
    }
    const tokens = options.text === null ? [] : dataset.tokenize(options.text);
    const words = new Map<number, number>();
    let unknownTokens = 0;
    for (const token of tokens) {
      const w = dataset.wordColumn.get(token);
      if (w === undefined) unknownTokens += 1;
      else words.set(w, (words.get(w) ?? 0) + 1);
    }
    if (columns.size === 0 && words.size === 0) {
      const parts = [
        options.clicks.length > 0 ? `none of the ${unknownItemIds.length} item ids is an item model ${this.modelId} was trained with` : "",
        options.text !== null ? `no word of the text is in the vocabulary of dataset "${this.datasetName}"` : "",
      ].filter((p) => p !== "");
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        parts.length === 0
          ? "Give clicks (item external ids), text, or both to recommend for."
          : `Nothing in this history is known: ${parts.join(", and ")}; use item ids and words of the model's dataset.`,
      );
    }
    const clicks = [...columns].sort((a, b) => a - b);
    return {
      view: dataset.withHistory({ clicks, words }),
      source: clicks.length > 0 ? "CLICKS" : "REVIEWS",
      knownItems: clicks,
      unknownItemIds,
      knownWords: [...words.keys()].sort((a, b) => a - b).map((w) => dataset.matrices.vocabulary[w]),
      unknownTokens,
    };
  }

  /** The training clicks as this model reads them: only the columns of the items it was trained with. */
  #clicks(dataset: DatasetIndex): CsrMatrix {
    return dataset.clicksFor(this.model.numItems);
  }

  /** The recent answers of one kind (created with `capacity` on first use). */
  #recentAnswers<T>(kind: string, capacity: number): RecentAnswers<T> {
    let recent = this.#recent.get(kind);
    if (recent === undefined) {
      recent = new RecentAnswers<unknown>(capacity);
      this.#recent.set(kind, recent);
    }
    return recent as RecentAnswers<T>;
  }

  /**
   * #cachedList for forward passes over rows: concurrent requests (and all users of one request) share
   * one pass over their distinct rows that no recent answer holds. Resolves to a lookup of each row's
   * slice of the output.
   */
  async #rows(options: {
    kind: string;
    dataset: DatasetIndex;
    width: number;
    rows: ReadonlyArray<number>;
    run: (rows: ReadonlyArray<number>) => Promise<Float32Array>;
  }): Promise<(row: number) => Float32Array> {
    const { dataset } = options;
    const slices = await this.#cachedList<number, Float32Array>({
      kind: options.kind,
      dataset,
      capacity: RECENT_ANSWERS.rows,
      keyOf: (row) => dataset.rowKey(row),
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
   * The recent answers for the requests that have one, and one shared engine call for the others
   * (whose answers are then kept, through `keep`). Callers only read the answers they get.
   */
  async #cachedList<R, T>(options: {
    kind: string;
    dataset: DatasetIndex;
    capacity: number;
    /** Undefined for an answer that is not kept (a what-if history's). */
    keyOf: (request: R) => string | undefined;
    keep?: (answer: T) => T;
    requests: ReadonlyArray<R>;
    run: (all: ReadonlyArray<R>) => Promise<T[]>;
  }): Promise<T[]> {
    const { requests, keyOf } = options;
    const recent = this.#recentAnswers<T>(options.kind, options.capacity);
    const answers: T[] = new Array(requests.length);
    const missing: number[] = [];
    requests.forEach((request, i) => {
      const key = keyOf(request);
      const held = key === undefined ? undefined : recent.get(key);
      if (held === undefined) missing.push(i);
      else answers[i] = held;
    });
    recordAnswerCacheHits(options.kind, requests.length - missing.length);
    if (missing.length === 0) return answers;
    const computed = await this.#calls.run({
      key: `${options.kind}|${this.modelId}|${options.dataset.scope}`,
      requests: missing.map((i) => requests[i]),
      run: options.run,
    });
    missing.forEach((i, j) => {
      answers[i] = computed[j];
      const key = keyOf(requests[i]);
      if (key !== undefined) recent.set(key, options.keep === undefined ? computed[j] : options.keep(computed[j]));
    });
    return answers;
  }
}

/** What an explanation depends on besides its model: the user's history, the item word statistics and the question. */
function explanationKey(dataset: DatasetIndex, pair: PairRequest): string | undefined {
  return keyWith(dataset.rowKey(pair.row), `${dataset.statsStamp}|${pair.item}|${pair.k}|${pair.rule ?? DEFAULT_EXPLANATION_RULE}|${pair.clicks !== false}`);
}

/** A row's key followed by more of what an answer depends on (undefined when the row's answers are not kept). */
function keyWith(rowKey: string | undefined, rest: string | number): string | undefined {
  return rowKey === undefined ? undefined : `${rowKey}|${rest}`;
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
function rowColumns(matrix: CsrMatrix, row: number): Int32Array {
  return matrix.indices.subarray(matrix.indptr[row], matrix.indptr[row + 1]);
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

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
