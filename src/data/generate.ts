import seedrandom from "seedrandom";
import { ErrorCode, UserError } from "../errors.ts";
import type { ReviewSink } from "./corpus.ts";
import type { RecordSource } from "./source.ts";
import { stopWordSet } from "./tokenizer.ts";

/** Shape of a synthetic dataset. */
export interface SyntheticOptions {
  /** Number of users (every one ends with at least 5 clicks). */
  readonly users: number;
  /** Number of items (every one ends with at least 5 clicking users). */
  readonly items: number;
  /** Number of distinct words the texts draw from (the vocabulary, when --vocab-size is at least this). */
  readonly vocab: number;
  readonly seed: number;
  /** Number of latent topics; by default one per 50 items, between 5 and 60. */
  readonly topics?: number;
}

export const DEFAULT_SYNTHETIC_OPTIONS: SyntheticOptions = Object.freeze({ users: 600, items: 800, vocab: 2_000, seed: 1 });

/** The Yelp shape of the paper's Table 1, for benchmarks. */
export const YELP_SHAPE: SyntheticOptions = Object.freeze({ users: 6_784, items: 10_003, vocab: 10_000, seed: 1 });

/** Fills defaults and rejects shapes that cannot hold the planted structure. */
export function resolveSyntheticOptions(partial: Partial<SyntheticOptions> = {}): SyntheticOptions {
  const options = { ...DEFAULT_SYNTHETIC_OPTIONS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  const bad = (message: string): never => {
    throw new UserError(ErrorCode.BAD_USER_INPUT, message);
  };
  if (!Number.isInteger(options.users) || options.users < 10) bad(`--users must be an integer of at least 10, got ${options.users}.`);
  if (!Number.isInteger(options.items) || options.items < 20) bad(`--items must be an integer of at least 20, got ${options.items}.`);
  if (!Number.isInteger(options.vocab) || options.vocab < 100) bad(`--vocab must be an integer of at least 100, got ${options.vocab}.`);
  if (!Number.isInteger(options.seed)) bad(`--seed must be an integer, got ${options.seed}.`);
  const topics = options.topics ?? Math.min(60, Math.max(5, Math.round(options.items / 50)));
  if (!Number.isInteger(topics) || topics < 2 || topics * 4 > options.items) {
    bad(`--topics must be an integer from 2 to items / 4, got ${topics}.`);
  }
  if (options.users * 5 < options.items) bad(`--users must be at least --items / 5 so every item can get 5 users.`);
  return Object.freeze({ ...options, topics });
}

/** A planted topic: its readable name, most likely words and items. */
export interface SyntheticTopic {
  readonly name: string;
  readonly topWords: ReadonlyArray<string>;
  readonly itemCount: number;
}

/** The planted structure, returned so tests and demos can compare what a model finds with the truth. */
export interface SyntheticTruth {
  readonly topics: ReadonlyArray<SyntheticTopic>;
  /** Each user's preferred topics (indices into `topics`), by external user id. */
  readonly userTopics: ReadonlyMap<string, ReadonlyArray<number>>;
  /** Each item's topic, by external item id. */
  readonly itemTopic: ReadonlyMap<string, number>;
  readonly reviews: number;
}

/** Readable word lists for the first topics (more topics get pronounceable made-up words). */
const THEMES: ReadonlyArray<readonly [string, string]> = [
  ["coffee", "coffee espresso latte barista beans roast cappuccino mocha pastry croissant brew cafe"],
  ["pizza", "pizza crust cheese pepperoni slice oven dough mozzarella toppings calzone marinara garlic"],
  ["sushi", "sushi roll sashimi tuna salmon wasabi rice nigiri tempura miso ginger seaweed"],
  ["burgers", "burger fries patty bun bacon cheddar ketchup pickles milkshake onion grill mustard"],
  ["mexican", "tacos burrito salsa guacamole tortilla carnitas queso enchilada nachos cilantro lime margarita"],
  ["thai", "curry noodles basil coconut lemongrass spicy peanut satay jasmine papaya tamarind chili"],
  ["bakery", "bread cake cupcakes cookies frosting baguette muffin pie dessert sugar donuts scone"],
  ["bar", "beer cocktails bartender drinks wine whiskey tap ipa lager pub brewery pint"],
  ["salon", "haircut stylist salon highlights blowout shampoo trim bangs curls balayage conditioner dye"],
  ["nails", "manicure pedicure nails polish gel acrylic cuticle lacquer nailart buffing glitter tips"],
  ["auto", "mechanic brakes engine oil tires transmission estimate garage battery alignment muffler radiator"],
  ["dentist", "dentist teeth cleaning hygienist cavity filling crown braces floss molar gums enamel"],
  ["gym", "gym workout trainer weights treadmill yoga membership locker cardio spin squat dumbbells"],
  ["hotel", "hotel room lobby bed suite checkin pool housekeeping concierge balcony towels minibar"],
  ["vet", "vet dog cat puppy kitten vaccines grooming leash clinic paws kennel veterinarian"],
  ["plumbing", "plumber pipe leak drain faucet toilet heater valve sink clog wrench sewer"],
  ["movies", "movie theater popcorn screen seats tickets trailer imax matinee projector film cinema"],
  ["books", "books bookstore novel shelves author paperback poetry magazines fiction chapter hardcover comics"],
  ["shoes", "shoes sneakers boots heels laces sole leather sandals insole loafers slippers flats"],
  ["phones", "phone charger case cable warranty apps signal camera display headphones bluetooth tablet"],
];

/** Review words shared by every topic (they carry no topic signal). */
const BACKGROUND = (
  "good great nice place time service really love best friendly staff price recommend experience " +
  "definitely amazing delicious clean awesome favorite perfect quick excellent fantastic visit people " +
  "little pretty worth helpful wait busy minutes super nothing everything always"
).split(" ");

/** Stop words sprinkled into texts so they read like text; the tokenizer removes them again. */
const FILLERS = ["the", "and", "was", "very", "with", "this", "it", "we", "they", "had"];

/**
 * Writes a synthetic dataset with planted structure into the sink: items belong to topics, each user
 * prefers 1–3 topics, clicks (rating 4–5) come mostly from those topics, and every review draws most
 * of its words from its item's topic and the user's topics. Users also review a few preferred-topic
 * items they did not like (rating 1–3): text that says more about a sparse user's taste than their few
 * training clicks. Deterministic for a seed.
 */
export function generateSynthetic(partial: Partial<SyntheticOptions>, sink: ReviewSink): SyntheticTruth {
  const options = resolveSyntheticOptions(partial);
  const topicCount = options.topics ?? 5;
  const random = seedrandom.alea(`vcm-synthetic\u0000${options.seed}`);
  const { topicWords, topicNames, background } = buildWords({ vocab: options.vocab, topicCount, random });
  const wordSamplers = topicWords.map((words) => zipfSampler(words.length, 0.9));
  const backgroundSampler = zipfSampler(background.length, 0.7);

  // Items: balanced over topics, with a Zipf popularity inside each topic.
  const itemTopic = new Int32Array(options.items);
  const topicItems: number[][] = Array.from({ length: topicCount }, () => []);
  for (let j = 0; j < options.items; j++) {
    itemTopic[j] = j % topicCount;
    topicItems[j % topicCount].push(j);
  }
  for (const items of topicItems) shuffle(items, random);
  const itemSamplers = topicItems.map((items) => zipfSampler(items.length, 0.8));
  const itemNames = Array.from({ length: options.items }, (_, j) => `${topicNames[itemTopic[j]]}-${String(j).padStart(5, "0")}`);
  const userNames = Array.from({ length: options.users }, (_, u) => `u${String(u).padStart(5, "0")}`);

  // Users: 1–3 preferred topics with weights; activity from many 5–10 to a few 60+.
  const maxClicks = Math.max(5, Math.floor(options.items / 3));
  const userTopics: number[][] = [];
  const userWeights: number[][] = [];
  const clicked: Array<Set<number>> = [];
  const topicUsers: number[][] = Array.from({ length: topicCount }, () => []);
  for (let u = 0; u < options.users; u++) {
    const r = random();
    const n = r < 0.4 ? 1 : r < 0.8 ? 2 : 3;
    const topics = pickDistinct(topicCount, n, random);
    const weights = topics.map((_, k) => (k === 0 ? 2 : 1) * (0.5 + random()));
    const total = weights.reduce((a, b) => a + b, 0);
    userTopics.push(topics);
    userWeights.push(weights.map((w) => w / total));
    topicUsers[topics[0]].push(u);
    clicked.push(new Set());
  }

  const pickItemOfTopic = (topic: number): number => topicItems[topic][itemSamplers[topic](random)];
  const pickTopicOf = (u: number): number => {
    let x = random();
    const weights = userWeights[u];
    for (let k = 0; k < weights.length; k++) {
      x -= weights[k];
      if (x <= 0) return userTopics[u][k];
    }
    return userTopics[u][0];
  };
  for (let u = 0; u < options.users; u++) {
    const target = Math.min(maxClicks, activity(random));
    let attempts = 0;
    while (clicked[u].size < target && attempts < target * 30) {
      attempts += 1;
      // 85 % from the user's topics, 15 % noise anywhere.
      const topic = random() < 0.85 ? pickTopicOf(u) : Math.floor(random() * topicCount);
      clicked[u].add(pickItemOfTopic(topic));
    }
  }
  // Top up items with fewer than 5 users from users who prefer the item's topic.
  const itemUsers = new Int32Array(options.items);
  for (const set of clicked) for (const j of set) itemUsers[j] += 1;
  for (let j = 0; j < options.items; j++) {
    const fans = topicUsers[itemTopic[j]];
    let attempts = 0;
    while (itemUsers[j] < 5 && attempts < 200) {
      attempts += 1;
      const u = fans.length > 0 && attempts < 100 ? fans[Math.floor(random() * fans.length)] : Math.floor(random() * options.users);
      if (!clicked[u].has(j)) {
        clicked[u].add(j);
        itemUsers[j] += 1;
      }
    }
  }

  const writeText = (u: number, item: number): string => {
    const length = 20 + Math.floor(random() * 60);
    const words: string[] = [];
    for (let k = 0; k < length; k++) {
      const x = random();
      if (x < 0.12) {
        words.push(FILLERS[Math.floor(random() * FILLERS.length)]);
      } else if (x < 0.65) {
        const topic = itemTopic[item];
        words.push(topicWords[topic][wordSamplers[topic](random)]);
      } else if (x < 0.87) {
        const topic = pickTopicOf(u);
        words.push(topicWords[topic][wordSamplers[topic](random)]);
      } else {
        words.push(background[backgroundSampler(random)]);
      }
    }
    return words.join(" ");
  };

  let reviews = 0;
  let time = 1_400_000_000;
  for (let u = 0; u < options.users; u++) {
    for (const item of [...clicked[u]].sort((a, b) => a - b)) {
      time += 37;
      sink.review(
        { user: userNames[u], item: itemNames[item], rating: random() < 0.6 ? 5 : 4, text: writeText(u, item), summary: null, time },
        true,
      );
      reviews += 1;
    }
    const disliked = 2 + Math.floor(random() * 4);
    for (let k = 0; k < disliked; k++) {
      const item = pickItemOfTopic(pickTopicOf(u));
      if (clicked[u].has(item)) continue;
      time += 37;
      sink.review(
        { user: userNames[u], item: itemNames[item], rating: 1 + Math.floor(random() * 3), text: writeText(u, item), summary: null, time },
        true,
      );
      reviews += 1;
    }
  }

  return {
    topics: topicNames.map((name, t) => ({ name, topWords: topicWords[t].slice(0, 10), itemCount: topicItems[t].length })),
    userTopics: new Map(userNames.map((name, u) => [name, userTopics[u]])),
    itemTopic: new Map(itemNames.map((name, j) => [name, itemTopic[j]])),
    reviews,
  };
}

/** The generator as an ingest source. */
export function syntheticSource(partial: Partial<SyntheticOptions>): RecordSource {
  const options = resolveSyntheticOptions(partial);
  return {
    kind: "generated",
    description: { generator: { ...options } },
    async read({ sink, onProgress }) {
      const truth = generateSynthetic(options, sink);
      onProgress({ done: truth.reviews, total: truth.reviews, unit: "records" });
    },
  };
}

/** Clicks per user: many 5–10, fewer 11–30, some 31–60 and a few 61–150 (a long tail like real data). */
function activity(random: () => number): number {
  const r = random();
  if (r < 0.55) return 5 + Math.floor(random() * 6);
  if (r < 0.85) return 11 + Math.floor(random() * 20);
  if (r < 0.97) return 31 + Math.floor(random() * 30);
  return 61 + Math.floor(random() * 90);
}

function buildWords(options: { vocab: number; topicCount: number; random: () => number }): {
  topicWords: string[][];
  topicNames: string[];
  background: string[];
} {
  const { vocab, topicCount, random } = options;
  const stopWords = stopWordSet(["eng"]);
  const used = new Set<string>(stopWords);
  const take = (word: string): boolean => {
    if (used.has(word) || word.length < 2) return false;
    used.add(word);
    return true;
  };
  const backgroundSize = Math.max(20, Math.round(vocab * 0.05));
  const background = BACKGROUND.filter(take).slice(0, backgroundSize);
  const topicNames: string[] = [];
  const topicWords: string[][] = [];
  for (let t = 0; t < topicCount; t++) {
    const theme = THEMES[t];
    topicNames.push(theme ? theme[0] : `topic${t}`);
    topicWords.push(theme ? theme[1].split(" ").filter(take) : []);
  }
  const perTopic = Math.floor((vocab - backgroundSize) / topicCount);
  const madeUp = (): string => {
    for (;;) {
      const syllables = 2 + Math.floor(random() * 2);
      let word = "";
      for (let s = 0; s < syllables; s++) {
        word += "bdfgklmnprstvz"[Math.floor(random() * 14)] + "aeiou"[Math.floor(random() * 5)];
      }
      if (take(word)) return word;
    }
  };
  for (const words of topicWords) {
    words.length = Math.min(words.length, perTopic);
    while (words.length < perTopic) words.push(madeUp());
  }
  while (background.length + perTopic * topicCount < vocab) background.push(madeUp());
  return { topicWords, topicNames, background };
}

/** Samples ranks 0..n−1 with probability ∝ 1 / (rank + 1)^exponent. */
function zipfSampler(n: number, exponent: number): (random: () => number) => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** exponent;
    cumulative[k] = total;
  }
  return (random) => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function pickDistinct(n: number, count: number, random: () => number): number[] {
  const picked: number[] = [];
  while (picked.length < Math.min(count, n)) {
    const k = Math.floor(random() * n);
    if (!picked.includes(k)) picked.push(k);
  }
  return picked;
}

function shuffle<T>(values: T[], random: () => number): void {
  for (let k = values.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [values[k], values[j]] = [values[j], values[k]];
  }
}
