/**
 * A small planted dataset for engine tests: users belong to hidden taste groups, click mostly items of
 * their group and write mostly words of their group, with activity from a few clicks to many, split
 * 60 / 20 / 20 per user. Words are plentiful even for sparse users, which is where VCM should help.
 */
import { csrFromRows, type CsrMatrix } from "../../src/data/csr.ts";
import { Rng } from "../../src/engine/random.ts";

export interface PlantedData {
  readonly train: CsrMatrix;
  readonly validation: CsrMatrix;
  readonly test: CsrMatrix;
  readonly words: CsrMatrix;
  /** Total clicks of each user before the split. */
  readonly activity: Int32Array;
  /** Hidden group of each user. */
  readonly group: Int32Array;
}

export function plantedData(options: {
  users?: number;
  items?: number;
  vocab?: number;
  groups?: number;
  seed?: number;
  /** Probability that a click goes to the user's own group (the rest are uniform noise). */
  clickFocus?: number;
  /** Probability that a word comes from the user's own group. */
  wordFocus?: number;
} = {}): PlantedData {
  const clickFocus = options.clickFocus ?? 0.85;
  const wordFocus = options.wordFocus ?? 0.7;
  const users = options.users ?? 600;
  const items = options.items ?? 200;
  const vocab = options.vocab ?? 300;
  const groups = options.groups ?? 8;
  const rng = new Rng(options.seed ?? 7);
  const itemsPerGroup = Math.floor(items / groups);
  const wordsPerGroup = Math.floor(vocab / groups);
  const train: Array<Array<[number, number]>> = [];
  const validation: Array<Array<[number, number]>> = [];
  const test: Array<Array<[number, number]>> = [];
  const words: Array<Array<[number, number]>> = [];
  const activity = new Int32Array(users);
  const group = new Int32Array(users);
  for (let u = 0; u < users; u += 1) {
    const g = Math.floor(rng.next() * groups);
    group[u] = g;
    // Activity from 5 to 40 clicks, skewed towards sparse users as in real data.
    const n = 5 + Math.floor(35 * rng.next() ** 2);
    activity[u] = n;
    // Within a group, items are not equally liked: a Zipf-like preference makes ranking learnable.
    const chosen = new Set<number>();
    while (chosen.size < n) {
      const inGroup = rng.next() < clickFocus;
      const item = inGroup
        ? g * itemsPerGroup + Math.floor(itemsPerGroup * rng.next() ** 1.5)
        : Math.floor(items * rng.next());
      chosen.add(item);
    }
    const list = [...chosen];
    const perm = rng.permutation(list.length);
    const nTrain = Math.max(1, Math.round(0.6 * n));
    const nVal = Math.round(0.2 * n);
    train.push([]);
    validation.push([]);
    test.push([]);
    perm.forEach((p, j) => {
      const target = j < nTrain ? train : j < nTrain + nVal ? validation : test;
      target[u].push([list[p], 1]);
    });
    const counts = new Map<number, number>();
    const nWords = 40 + Math.floor(40 * rng.next());
    for (let w = 0; w < nWords; w += 1) {
      const word = rng.next() < wordFocus ? g * wordsPerGroup + Math.floor(wordsPerGroup * rng.next()) : Math.floor(vocab * rng.next());
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
    words.push([...counts]);
  }
  return {
    train: csrFromRows({ cols: items, rows: train }),
    validation: csrFromRows({ cols: items, rows: validation }),
    test: csrFromRows({ cols: items, rows: test }),
    words: csrFromRows({ cols: vocab, rows: words }),
    activity,
    group,
  };
}
