/**
 * Explanations in batches for the API, under the rules of engine/explanation-rules.ts: the per-item
 * word statistics of each dataset (one SQL scan, cached) and the engine's outputs they need.
 */
import type { DataSource } from "typeorm";
import { ItemWordCounter } from "../data/item-words.ts";
import { DEFAULT_STOP_WORD_LANGUAGES, stopWordSet, tokenize } from "../data/tokenizer.ts";
import { datasetOptionsJson, reviewTextsPage } from "../db/review-texts.ts";
import {
  DEFAULT_EXPLANATION_RULE,
  EFFECT_SHORTLIST,
  buildItemWordStats,
  explainPair,
  shortlistByEffect,
  sumOf,
  type BagEffects,
  type Explanation,
  type ExplanationRule,
  type ExplanationWord,
  type ItemWordStats,
} from "../engine/explanation-rules.ts";
import { topK } from "../engine/metrics.ts";
import type { InferenceService } from "./inference.ts";
import { LruCache, type RecentAnswers } from "./lru-cache.ts";

/** Explanations a loaded model keeps (each a few hundred bytes: k words with their weights). */
const RECENT_EXPLANATIONS = 2048;

/** What an explanation depends on besides its model. */
function explanationKey(request: ExplanationRequest): string {
  return `${request.row}|${request.item}|${request.k}|${request.rule ?? DEFAULT_EXPLANATION_RULE}`;
}

/** Reviews tokenised per turn of the event loop while building a dataset's item word statistics. */
const REVIEWS_PER_PAGE = 2_000;

/** One (user, item) pair to explain under one model. */
export interface ExplanationRequest {
  readonly modelId: number;
  /** Row of the user in the model's dataset. */
  readonly row: number;
  /** Column of the item in the model's dataset. */
  readonly item: number;
  /** Number of words to return. */
  readonly k: number;
  /** How the words are chosen (default "effect"). */
  readonly rule?: ExplanationRule;
}

/** An explanation with the words spelled out. */
export interface NamedExplanation extends Omit<Explanation, "words"> {
  readonly words: ReadonlyArray<ExplanationWord & { readonly word: string }>;
}

/**
 * Explanations in batches: one click2review engine call per model for all the users of a request,
 * and the per-item word statistics of each dataset computed once (one SQL scan) and cached.
 */
export class ExplanationService {
  readonly #inference: InferenceService;
  readonly #stats: LruCache<number, ItemWordStats>;
  readonly #stopWords: LruCache<number, ReadonlySet<string>>;

  constructor(options: { dataSource: DataSource; inference: InferenceService; datasetsCached?: number }) {
    this.#inference = options.inference;
    this.#stats = new LruCache({
      capacity: options.datasetsCached ?? 2,
      load: (datasetId) => this.#loadStats(options.dataSource, datasetId),
    });
    this.#stopWords = new LruCache<number, ReadonlySet<string>>({
      capacity: 16,
      load: async (datasetId) => stopWordSet(stopWordLanguages(await datasetOptionsJson(options.dataSource, datasetId))),
    });
  }

  /** The stop words the dataset was ingested with. */
  stopWords(datasetId: number): Promise<ReadonlySet<string>> {
    return this.#stopWords.get(datasetId);
  }

  /** The tokenizer the dataset was ingested with (same stop words), for texts sent to the API. */
  async tokenizer(datasetId: number): Promise<(text: string) => string[]> {
    const stopWords = await this.stopWords(datasetId);
    return (text: string) => tokenize(text, stopWords);
  }

  /** The item word statistics of a dataset, by dataset id (cached; a replaced dataset has a new id). */
  itemWordStats(datasetId: number): Promise<ItemWordStats> {
    return this.#stats.get(datasetId);
  }

  /**
   * Explains many pairs in request order; a failing model fails only its own pairs. A loaded model
   * keeps the explanations it gave last (RECENT_EXPLANATIONS), which answer the same pair, k and rule again.
   */
  async explainMany(requests: ReadonlyArray<ExplanationRequest>): Promise<Array<NamedExplanation | Error>> {
    const results: Array<NamedExplanation | Error> = new Array(requests.length);
    const recentByModel = new Map<number, RecentAnswers<NamedExplanation> | null>();
    const missing: number[] = [];
    for (let i = 0; i < requests.length; i += 1) {
      const { modelId } = requests[i];
      let recent = recentByModel.get(modelId);
      if (recent === undefined) {
        // A model that cannot be loaded has no recent answers: the full path below says why.
        recent = await this.#inference.model(modelId).then(
          (loaded) => this.#inference.recentAnswers<NamedExplanation>(loaded, "explanations", RECENT_EXPLANATIONS),
          () => null,
        );
        recentByModel.set(modelId, recent);
      }
      const held = recent?.get(explanationKey(requests[i]));
      if (held === undefined) missing.push(i);
      else results[i] = held;
    }
    if (missing.length === 0) return results;
    const computed = await this.#explainAll(missing.map((i) => requests[i]));
    missing.forEach((i, j) => {
      const answer = computed[j];
      results[i] = answer;
      if (!(answer instanceof Error)) recentByModel.get(requests[i].modelId)?.set(explanationKey(requests[i]), answer);
    });
    return results;
  }

  /** explainMany without the recent answers. */
  async #explainAll(requests: ReadonlyArray<ExplanationRequest>): Promise<Array<NamedExplanation | Error>> {
    const distributions = await this.#inference.wordDistributionMany(requests);
    const results: Array<NamedExplanation | Error> = new Array(requests.length);
    const statsByModel = new Map<number, Promise<{ stats: ItemWordStats; vocabulary: ReadonlyArray<string> }>>();
    // Each user's words are ranked once per request, as deep as any of their pairs needed.
    const rankedByUser = new Map<string, { order: Int32Array; mass: number }>();
    const prepared: Array<{ stats: ItemWordStats; vocabulary: ReadonlyArray<string> } | Error> = [];
    for (let i = 0; i < requests.length; i += 1) {
      const request = requests[i];
      const distribution = distributions[i];
      if (distribution instanceof Error) {
        prepared.push(distribution);
        continue;
      }
      let pending = statsByModel.get(request.modelId);
      if (pending === undefined) {
        pending = this.#inference.modelWithDataset(request.modelId).then(async ({ loaded, dataset }) => ({
          stats: await this.itemWordStats(loaded.datasetId),
          vocabulary: dataset.matrices.vocabulary,
        }));
        statsByModel.set(request.modelId, pending);
      }
      try {
        prepared.push(await pending);
      } catch (error) {
        prepared.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
    const effects = await this.#bagEffects(requests, distributions, prepared);
    for (let i = 0; i < requests.length; i += 1) {
      const request = requests[i];
      const ready = prepared[i];
      const distribution = distributions[i];
      const bagEffects = effects.get(i);
      if (ready instanceof Error || distribution instanceof Error || bagEffects instanceof Error) {
        results[i] = ready instanceof Error ? ready : distribution instanceof Error ? distribution : (bagEffects as Error);
        continue;
      }
      const key = `${request.modelId}|${request.row}`;
      let ranked = rankedByUser.get(key);
      if (ranked === undefined) {
        ranked = { order: new Int32Array(0), mass: sumOf(distribution) };
        rankedByUser.set(key, ranked);
      }
      const cache = ranked;
      const explanation = explainPair({
        stats: ready.stats,
        userWords: distribution,
        userMass: cache.mass,
        userTopWords: (depth) => {
          if (cache.order.length < depth) cache.order = topK({ scores: distribution, k: depth });
          return cache.order;
        },
        item: request.item,
        k: request.k,
        rule: request.rule,
        bagEffects,
      });
      results[i] = {
        ...explanation,
        words: explanation.words.map((w) => ({ ...w, word: ready.vocabulary[w.wordIndex] })),
      };
    }
    return results;
  }

  /**
   * The "effect" rule's exact effects, for its pairs of items with review text: the first-order
   * effects of every word of the user's bag (one engine call per model), a shortlist of the
   * EFFECT_SHORTLIST · k best words by p(w|u) · e(w) among those with lift > 1 and e(w) > 0, and the
   * exact deletion effect δ(w) of each shortlisted word (a second engine call per model). Only the
   * shortlisted words are passed on, so explainPair lists only those with δ(w) > 0.
   */
  async #bagEffects(
    requests: ReadonlyArray<ExplanationRequest>,
    distributions: ReadonlyArray<Float32Array | Error>,
    prepared: ReadonlyArray<{ stats: ItemWordStats } | Error>,
  ): Promise<Map<number, BagEffects | Error>> {
    const effects = new Map<number, BagEffects | Error>();
    const chosen = requests.flatMap((r, i) => {
      const ready = prepared[i];
      const wanted = (r.rule ?? DEFAULT_EXPLANATION_RULE) === "effect" && !(distributions[i] instanceof Error) && !(ready instanceof Error);
      return wanted && ready.stats.itemTotals[r.item] > 0 ? [i] : [];
    });
    if (chosen.length === 0) return effects;
    const firstOrder = await this.#inference.wordEffectsMany(chosen.map((i) => requests[i]));
    const shortlisted: Array<{ index: number; words: Int32Array }> = [];
    chosen.forEach((i, j) => {
      const bag = firstOrder[j];
      if (bag instanceof Error || bag.words.length === 0) {
        effects.set(i, bag);
        return;
      }
      const request = requests[i];
      const { stats } = prepared[i] as { stats: ItemWordStats };
      const words = shortlistByEffect({
        stats,
        userWords: distributions[i] as Float32Array,
        item: request.item,
        n: EFFECT_SHORTLIST * request.k,
        bag,
      });
      // No word pulls toward the item: the rule lists none.
      if (words.length === 0) effects.set(i, { words: bag.words, effects: new Float32Array(bag.words.length) });
      else shortlisted.push({ index: i, words });
    });
    const exact = await this.#inference.deletionEffectsMany(shortlisted.map((s) => ({ ...requests[s.index], words: s.words })));
    shortlisted.forEach((s, j) => {
      const delta = exact[j];
      effects.set(s.index, delta instanceof Error ? delta : { words: s.words, effects: delta });
    });
    return effects;
  }

  async #loadStats(dataSource: DataSource, datasetId: number): Promise<ItemWordStats> {
    const dataset = await this.#inference.dataset(datasetId);
    const tokenizeReview = await this.tokenizer(datasetId);
    const counter = new ItemWordCounter({
      numItems: dataset.matrices.itemIds.length,
      vocabulary: dataset.matrices.vocabulary,
      tokenize: tokenizeReview,
    });
    // Pages with a turn of the event loop between them, so other requests are answered meanwhile.
    for (let after = 0; ; ) {
      const rows = await reviewTextsPage(dataSource, { datasetId, afterId: after, limit: REVIEWS_PER_PAGE });
      for (const row of rows) counter.add(row.item, row.text);
      if (rows.length < REVIEWS_PER_PAGE) break;
      after = rows[rows.length - 1].id;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const itemWords = counter.matrix();
    return buildItemWordStats({ itemWords });
  }
}

/** The stop-word languages a dataset was ingested with (its options), or the default. */
export function stopWordLanguages(optionsJson: string): ReadonlyArray<string> {
  try {
    const options = JSON.parse(optionsJson) as Record<string, unknown>;
    const languages = options.stopWordLanguages;
    if (Array.isArray(languages) && languages.every((l) => typeof l === "string")) return languages as string[];
  } catch {
    // Options written by an older ingest may not be JSON; the default languages apply.
  }
  return DEFAULT_STOP_WORD_LANGUAGES;
}
