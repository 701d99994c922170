/**
 * To whom a model recommends an item (issue 30, the dashboard's item view): every user's top
 * AUDIENCE_DEPTH ranked once per model, in chunks of users (never users × items at once), inverted
 * into each item's audience and cached like the cohort analysis's evaluation; the listed users'
 * default explanations of the item are then aggregated into the item's reasons.
 */
import { DEFAULT_EXPLANATION_RULE } from "../engine/explanation-rules.ts";
import type { DatasetIndex } from "./dataset-index.ts";
import type { InferenceService } from "./inference.ts";
import { LruCache } from "./lru-cache.ts";
import { requireWordModel, type NamedExplanation, type ServedModel } from "./served-model.ts";
import { nextTurn } from "./turns.ts";

/** How deep each user's list is read: an item is in a user's audience when it is in the user's recommendations(k: 20). */
export const AUDIENCE_DEPTH = 20;

/** Users ranked per engine call (and per turn of the event loop) while a model's pass is made. */
const USERS_PER_PASS = 256;

/** Every user's top AUDIENCE_DEPTH under one model, inverted: each item's users, best rank first. */
export interface AudiencePass {
  /** Users ranked (every user of the dataset when the pass was made). */
  readonly usersScored: number;
  /** External ids of the users by row, as the pass read them. */
  readonly userIds: ReadonlyArray<string>;
  /** Item i's entries are [indptr[i], indptr[i + 1]), by rank, then higher score, then lower row. */
  readonly indptr: Int32Array;
  readonly rows: Int32Array;
  readonly ranks: Uint8Array;
  readonly scores: Float32Array;
}

/** One user of an item's audience. */
export interface AudienceUser {
  readonly row: number;
  readonly externalId: string;
  /** The item's 1-based place in the user's recommendations. */
  readonly rank: number;
  /** Its score there (the softmax probability π_ui). */
  readonly score: number;
}

/** A word of the listed users' explanations: how many carry it and its mean weight among them. */
export interface ReasonWord {
  readonly word: string;
  readonly users: number;
  readonly meanWeight: number;
}

/** A click of the listed users' explanations: how many carry it and its mean effect δ(j) among them. */
export interface ReasonClick {
  /** Column of the clicked item. */
  readonly item: number;
  readonly users: number;
  readonly meanEffect: number;
}

/** The listed users' explanations of the item, aggregated. */
export interface ItemReasons {
  /** By users, then mean weight, largest first. */
  readonly words: ReadonlyArray<ReasonWord>;
  /** By users, then mean effect, largest first. */
  readonly clicks: ReadonlyArray<ReasonClick>;
  /** Listed users whose explanation holds neither a word nor a click. */
  readonly unexplained: number;
}

/** The answer of Item.recommendedTo. */
export interface ItemAudience {
  readonly users: ReadonlyArray<AudienceUser>;
  /** Users whose top AUDIENCE_DEPTH holds the item. */
  readonly candidates: number;
  readonly usersScored: number;
  readonly reasons: ItemReasons;
}

/**
 * Ranks every user's top AUDIENCE_DEPTH once per model (the costly part, cached for the last
 * `modelsCached` models until the model is deleted or its dataset grows) and answers any item's
 * audience from it.
 */
export class ItemAudienceService {
  readonly #inference: InferenceService;
  readonly #passes: LruCache<number, AudiencePass>;
  /** The dataset of each model with a pass, so an append to it drops the pass. */
  readonly #datasetOf = new Map<number, number>();

  constructor(options: { inference: InferenceService; modelsCached?: number }) {
    this.#inference = options.inference;
    this.#passes = new LruCache({ capacity: options.modelsCached ?? 4, load: (modelId) => this.#rankEveryUser(modelId) });
  }

  /** The model's pass over every user (made on first use, then reused). */
  pass(modelId: number): Promise<AudiencePass> {
    return this.#passes.get(modelId);
  }

  /** Forgets a model's pass (deleted model, or its dataset's histories changed). */
  forget(modelId: number): void {
    this.#passes.delete(modelId);
    this.#datasetOf.delete(modelId);
  }

  /** Forgets the passes of every model of a dataset whose histories changed (an append). */
  forgetDataset(datasetId: number): void {
    for (const [modelId, of] of [...this.#datasetOf]) if (of === datasetId) this.forget(modelId);
  }

  /**
   * The k users the model recommends the item to most (its audience, best rank first, then higher
   * score) and the reasons of their default explanations (`explanationK` words and clicks, rule
   * DEFAULT_EXPLANATION_RULE, as Recommendation.explanation gives them by default).
   */
  async audience(options: { modelId: number; item: number; k: number; explanationK: number }): Promise<ItemAudience> {
    const { modelId, item } = options;
    // Refused before every user is ranked: the reasons need the model's explanations.
    requireWordModel(await this.#inference.model(modelId));
    const pass = await this.pass(modelId);
    const start = item + 1 < pass.indptr.length ? pass.indptr[item] : 0;
    const end = item + 1 < pass.indptr.length ? pass.indptr[item + 1] : 0;
    const users: AudienceUser[] = [];
    for (let p = start; p < Math.min(end, start + options.k); p += 1) {
      users.push({ row: pass.rows[p], externalId: pass.userIds[pass.rows[p]], rank: pass.ranks[p], score: pass.scores[p] });
    }
    const explanations = await this.#inference.explainMany(users.map((u) => ({ modelId, row: u.row, item, k: options.explanationK, rule: DEFAULT_EXPLANATION_RULE, clicks: true })));
    const failed = explanations.find((e): e is Error => e instanceof Error);
    if (failed !== undefined) throw failed;
    return { users, candidates: end - start, usersScored: pass.usersScored, reasons: aggregateReasons(explanations as NamedExplanation[]) };
  }

  #rankEveryUser(modelId: number): Promise<AudiencePass> {
    return this.#inference.using(modelId, (served, dataset) => {
      this.#datasetOf.set(modelId, served.datasetId);
      return rankEveryUser(served, dataset);
    });
  }
}

/** Every user's top AUDIENCE_DEPTH from training clicks, training clicks excluded (recommendations' defaults), inverted by item. */
async function rankEveryUser(served: ServedModel, dataset: DatasetIndex): Promise<AudiencePass> {
  const { model } = served;
  // The histories as they are now, over the items the model was trained with.
  const train = dataset.clicksFor(model.numItems);
  const users = train.rows;
  const items = new Int32Array(users * AUDIENCE_DEPTH).fill(-1);
  const scores = new Float32Array(users * AUDIENCE_DEPTH);
  for (let start = 0; start < users; start += USERS_PER_PASS) {
    const rows = Array.from({ length: Math.min(USERS_PER_PASS, users - start) }, (_, j) => start + j);
    const ranked = await model.rankItems({ input: { matrix: train, rows }, mode: "vcm", k: AUDIENCE_DEPTH, exclude: train });
    items.set(ranked.items, start * AUDIENCE_DEPTH);
    scores.set(ranked.scores, start * AUDIENCE_DEPTH);
    await nextTurn();
  }
  const indptr = new Int32Array(model.numItems + 1);
  for (const i of items) if (i >= 0) indptr[i + 1] += 1;
  for (let i = 0; i < model.numItems; i += 1) indptr[i + 1] += indptr[i];
  const order = new Int32Array(indptr[model.numItems]);
  const next = indptr.slice(0, model.numItems);
  items.forEach((i, position) => {
    if (i >= 0) order[next[i]++] = position;
  });
  // position = row · AUDIENCE_DEPTH + (rank − 1), so each item's entries sort by rank, then score, then row.
  for (let i = 0; i < model.numItems; i += 1) {
    order.subarray(indptr[i], indptr[i + 1]).sort((a, b) => (a % AUDIENCE_DEPTH) - (b % AUDIENCE_DEPTH) || scores[b] - scores[a] || a - b);
  }
  return {
    usersScored: users,
    userIds: dataset.matrices.userIds.slice(0, users),
    indptr,
    rows: Int32Array.from(order, (position) => Math.floor(position / AUDIENCE_DEPTH)),
    ranks: Uint8Array.from(order, (position) => (position % AUDIENCE_DEPTH) + 1),
    scores: Float32Array.from(order, (position) => scores[position]),
  };
}

/** How many of the explanations carry each word and each click, with their mean weight or effect among those. */
export function aggregateReasons(explanations: ReadonlyArray<NamedExplanation>): ItemReasons {
  const words = new Map<string, { users: number; sum: number }>();
  const clicks = new Map<number, { users: number; sum: number }>();
  let unexplained = 0;
  for (const explanation of explanations) {
    if (explanation.words.length === 0 && explanation.clicks.length === 0) unexplained += 1;
    for (const w of explanation.words) {
      const held = words.get(w.word) ?? { users: 0, sum: 0 };
      words.set(w.word, { users: held.users + 1, sum: held.sum + w.weight });
    }
    for (const c of explanation.clicks) {
      const held = clicks.get(c.item) ?? { users: 0, sum: 0 };
      clicks.set(c.item, { users: held.users + 1, sum: held.sum + c.effect });
    }
  }
  return {
    words: [...words]
      .map(([word, t]) => ({ word, users: t.users, meanWeight: t.sum / t.users }))
      .sort((a, b) => b.users - a.users || b.meanWeight - a.meanWeight || (a.word < b.word ? -1 : 1)),
    clicks: [...clicks]
      .map(([item, t]) => ({ item, users: t.users, meanEffect: t.sum / t.users }))
      .sort((a, b) => b.users - a.users || b.meanEffect - a.meanEffect || a.item - b.item),
    unexplained,
  };
}
