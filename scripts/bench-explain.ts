/**
 * `npm run bench:explain`: how much evidence the explanations of recommendations carry, for each
 * ExplanationRule, on generated data and on the real Amazon files in ../shared/datasets (skipped with
 * a message when absent). For each dataset it ingests into a temporary SQLite file, trains a VCM,
 * takes each user's top-5 recommendations (VCM, from clicks) and explains each pair with k words:
 *
 * - faithfulness by deletion: removing the explanation's words from the user's bag of words lowers
 *   the item's review2click (VCM-CD) score by a relative drop; removing as many random words of the
 *   same bag is the baseline. Printed: both mean drops and their ratio (target ≥ 3);
 * - support: the share of listed words that are in the user's own bag or among the user's top-50
 *   click2review words (target ≥ 0.8).
 *
 * Click reasons (Explanation.clicks, the same under every rule) are measured the same way on the
 * item's VCM score from clicks: removing the listed clicks from the user's history against removing
 * as many random clicks of it (target ≥ 3×), for the rule (CLICK_COVERAGE), the first rule (every click
 * with δ > 0) and variants tried, all from the same single-click effects; and the top click alone
 * against one random click. For each word rule, the share of pairs with neither a word nor a click,
 * and how many of those the kinds of click reason (Explanation.clickReason: HISTORY, POPULARITY)
 * explain, leaving the share with no reason at all (target ≤ 2 %); for the POPULARITY pairs, their
 * items' place for an empty history and training clicks, and how far the empty history's ranking
 * follows the items' training clicks (Spearman's ρ).
 *
 * Beside the issue's figures, two that a softmax score needs: the mean fall of log π_ui (a relative
 * drop averaged over pairs is biased upward for a random deletion by Jensen's inequality, since
 * E[π'/π] ≥ exp E[log π'/π], so a deletion that moves log scores at random "raises" the mean score),
 * and the share of pairs whose score falls. With --tried, two variants of the "effect" rule that were
 * measured and not kept, on the first-order effects alone (no exact check of the shortlist): p(w|u) · e(w),
 * p(w|u) among the positive-effect words, and e(w) alone.
 *
 *   npm run bench:explain -- [--k 5] [--users 300] [--epochs 40] [--seed 1] [--tried] [--json]
 */
import "reflect-metadata";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { csrFromRows, type CsrMatrix } from "../src/data/csr.ts";
import { syntheticSource } from "../src/data/generate.ts";
import { amazonSource } from "../src/data/parsers/amazon.ts";
import type { RecordSource } from "../src/data/source.ts";
import { openDatabase } from "../src/db/data-source.ts";
import { loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { topK } from "../src/engine/metrics.ts";
import { Rng } from "../src/engine/random.ts";
import {
  CLICK_COVERAGE,
  explainByClicks,
  explainPair,
  ranksOf,
  type ClickEffects,
  type Explanation,
  type ExplanationClick,
  type ExplanationRule,
} from "../src/engine/explanation-rules.ts";
import { ingestDataset } from "../src/services/ingest.ts";
import { createPredictionServices } from "../src/services/prediction-services.ts";
import { trainAndSave } from "../src/services/training.ts";

const RULES: ReadonlyArray<ExplanationRule> = ["effect", "evidence", "lift"];
const STORED_NAME = "bench-explain";

/**
 * Variants of "effect" measured with --tried, all on the first-order effects e(w) without the exact
 * check of the shortlist: effects rewritten so that p(w|u) · e' ranks as the variant does.
 */
const TRIED: ReadonlyArray<{ name: string; rewrite: (effect: number, p: number) => number }> = [
  { name: "p·e, first order only", rewrite: (e) => e },
  { name: "p among e>0, first order", rewrite: (e) => (e > 0 ? 1 : 0) },
  { name: "e alone, first order", rewrite: (e, p) => (e > 0 && p > 0 ? e / p : 0) },
];
/** The clicks with δ ≥ share × the top click's δ, among the first rule's (tried and not kept). */
function shareOfTop(o: ClickEffects & { k: number }, share: number): ExplanationClick[] {
  const all = explainByClicks({ ...o, coverage: 1, k: Number.MAX_SAFE_INTEGER });
  return all.filter((c) => c.effect >= share * all[0].effect).slice(0, o.k);
}

/**
 * Rules for listing clicks measured side by side on the same single-click effects: the first rule (every
 * click with δ > 0), the rule (the fewest covering CLICK_COVERAGE of Σ δ⁺) and variants tried and not kept.
 */
const CLICK_LISTS: ReadonlyArray<{ name: string; choose: (o: ClickEffects & { k: number }) => ExplanationClick[] }> = [
  { name: "clicks: δ > 0 (first rule)", choose: (o) => explainByClicks({ ...o, coverage: 1 }) },
  { name: "clicks: δ ≥ 0.5 × top (tried)", choose: (o) => shareOfTop(o, 0.5) },
  { name: "clicks: δ ≥ 0.75 × top (tried)", choose: (o) => shareOfTop(o, 0.75) },
  { name: "clicks: fewest, Σδ ≥ ⅔ Σδ⁺ (tried)", choose: (o) => explainByClicks({ ...o, coverage: 2 / 3 }) },
  { name: `clicks: fewest, Σδ ≥ ${CLICK_COVERAGE} Σδ⁺ (the rule)`, choose: (o) => explainByClicks(o) },
];

/**
 * Faithfulness of listed clicks: the mean falls of each pair's item score when the listed clicks leave
 * the user's history together, against as many random clicks of the same history.
 */
async function clickFaithfulness(o: {
  pairs: ReadonlyArray<{ row: number; item: number }>;
  train: CsrMatrix;
  items: number;
  original: Float32Array;
  listed: ReadonlyArray<ReadonlyArray<ExplanationClick>>;
  seed: number;
  score: (histories: Array<Array<[number, number]>>) => Promise<Float32Array>;
}): Promise<Omit<Figures, "dataset" | "rule">> {
  const withoutExplained: Array<Array<[number, number]>> = [];
  const withoutRandom: Array<Array<[number, number]>> = [];
  let listed = 0;
  let empty = 0;
  const pick = new Rng(o.seed + 2);
  o.pairs.forEach((p, i) => {
    const history = rowOf(o.train, p.row);
    const explained = new Set(o.listed[i].map((c) => c.item));
    if (explained.size === 0) empty += 1;
    listed += explained.size;
    const clicked = [...history.keys()];
    const order = pick.permutation(clicked.length);
    const random = new Set([...order.subarray(0, Math.min(explained.size, clicked.length))].map((j) => clicked[j]));
    withoutExplained.push([...history].filter(([c]) => !explained.has(c)));
    withoutRandom.push([...history].filter(([c]) => !random.has(c)));
  });
  return {
    ...drops({ pairs: o.pairs, items: o.items, original: o.original, afterExplained: await o.score(withoutExplained), afterRandom: await o.score(withoutRandom) }),
    pairs: o.pairs.length,
    support: 1,
    listed: listed / o.pairs.length,
    empty: empty / o.pairs.length,
    noReason: Number.NaN,
  };
}

/** The Amazon files: in shared/datasets/amazon-2018-5core beside this checkout or beside a folder above it (a worktree's). */
function amazonFolder(): string | undefined {
  for (let dir = path.resolve(import.meta.dirname, ".."); ; dir = path.dirname(dir)) {
    const candidate = path.join(path.dirname(dir), "shared", "datasets", "amazon-2018-5core");
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

interface Figures {
  readonly dataset: string;
  readonly rule: string;
  readonly pairs: number;
  readonly explanationDrop: number;
  readonly randomDrop: number;
  readonly ratio: number;
  readonly support: number;
  /** Mean of log π − log π' for the listed words and for the random ones. */
  readonly explanationLogDrop: number;
  readonly randomLogDrop: number;
  /** Share of pairs whose score falls when the listed words (the random ones) leave the bag. */
  readonly explanationFalls: number;
  readonly randomFalls: number;
  /** Mean number of words listed per pair. */
  readonly listed: number;
  /** Share of pairs with no word listed (no click, for the click reasons). */
  readonly empty: number;
  /** Share of pairs with no reason at all: no word and no click. */
  readonly noReason: number;
  /** Share of pairs with no word, no click and no other reason of the clicks (ClickReasonKind), and the shares that the "history" and "popularity" kinds explain among those without a word or a click. */
  readonly noReasonWithKinds?: { readonly none: number; readonly history: number; readonly popularity: number };
  /** Click reasons only: mean training clicks of the user and training clicks of the item, over the pairs without a click listed and over all. */
  readonly withoutClick?: ReturnType<typeof withoutClickFigures>;
}

/** The entries of a CSR row as a Map column → value. */
function rowOf(m: CsrMatrix, r: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let p = m.indptr[r]; p < m.indptr[r + 1]; p += 1) out.set(m.indices[p], m.values[p]);
  return out;
}

/** Mean relative and log falls of each pair's item score after the two deletions, and the shares of pairs whose score falls. */
function drops(o: { pairs: ReadonlyArray<{ item: number }>; items: number; original: Float32Array; afterExplained: Float32Array; afterRandom: Float32Array }) {
  let dropExplained = 0;
  let dropRandom = 0;
  let logExplained = 0;
  let logRandom = 0;
  let fallsExplained = 0;
  let fallsRandom = 0;
  o.pairs.forEach((p, i) => {
    const s = o.original[i * o.items + p.item];
    const [e, r] = [o.afterExplained[i * o.items + p.item], o.afterRandom[i * o.items + p.item]];
    dropExplained += (s - e) / s;
    dropRandom += (s - r) / s;
    logExplained += Math.log(s) - Math.log(e);
    logRandom += Math.log(s) - Math.log(r);
    if (e < s) fallsExplained += 1;
    if (r < s) fallsRandom += 1;
  });
  const n = o.pairs.length;
  return {
    explanationDrop: dropExplained / n,
    randomDrop: dropRandom / n,
    ratio: dropExplained / dropRandom,
    explanationLogDrop: logExplained / n,
    randomLogDrop: logRandom / n,
    explanationFalls: fallsExplained / n,
    randomFalls: fallsRandom / n,
  };
}

/** Why pairs come without a click: their users' history lengths and their items' training clicks, against all pairs'. */
function withoutClickFigures(o: { train: CsrMatrix; pairs: ReadonlyArray<{ row: number; item: number }>; explanations: ReadonlyArray<Explanation | Error>; prior: Float32Array }) {
  const { train, pairs, explanations } = o;
  const itemClicks = new Float64Array(train.cols);
  for (const c of train.indices) itemClicks[c] += 1;
  // How far the empty history's ranking follows the items' training clicks (Spearman's ρ, ties by column).
  const [byPrior, byClicks] = [ranksOf(o.prior), ranksOf(itemClicks)];
  let squares = 0;
  for (let i = 0; i < train.cols; i += 1) squares += (byPrior[i] - byClicks[i]) ** 2;
  const n = train.cols;
  const priorVsClicks = 1 - (6 * squares) / (n * (n * n - 1));
  const sums = { history: 0, popularity: 0, n: 0, allHistory: 0, allPopularity: 0, popularRank: 0, popularItemClicks: 0, popular: 0, historyEffect: 0, together: 0 };
  pairs.forEach((p, i) => {
    const history = train.indptr[p.row + 1] - train.indptr[p.row];
    sums.allHistory += history;
    sums.allPopularity += itemClicks[p.item];
    const { clicks, clickReason } = explanations[i] as Explanation;
    if (clicks.length > 0) return;
    if (clickReason?.kind === "popularity") {
      sums.popular += 1;
      sums.popularRank += clickReason.priorRank;
      sums.popularItemClicks += itemClicks[p.item];
    } else if (clickReason?.kind === "history") {
      sums.together += 1;
      sums.historyEffect += clickReason.historyEffect;
    }
    sums.history += history;
    sums.popularity += itemClicks[p.item];
    sums.n += 1;
  });
  return {
    history: sums.history / sums.n,
    popularity: sums.popularity / sums.n,
    allHistory: sums.allHistory / pairs.length,
    allPopularity: sums.allPopularity / pairs.length,
    items: train.cols,
    itemMeanClicks: train.indices.length / train.cols,
    priorVsClicks,
    /** Pairs of kind "popularity": how many, their items' mean place for an empty history and mean training clicks. */
    popular: sums.popular,
    popularRank: sums.popularRank / sums.popular,
    popularItemClicks: sums.popularItemClicks / sums.popular,
    /** Pairs of kind "history": how many and their mean Δ. */
    together: sums.together,
    historyEffect: sums.historyEffect / sums.together,
  };
}

async function measure(o: { name: string; source: RecordSource; k: number; users: number; epochs: number; seed: number; tried: boolean }): Promise<Figures[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-explain-"));
  const dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));
  try {
    // Each dataset has a database of its own, so one stored name (dataset names allow no spaces) serves all.
    await ingestDataset(dataSource, { name: STORED_NAME, source: o.source });
    const modelsDir = path.join(dir, "models");
    const { model } = await trainAndSave({ dataSource, dataset: STORED_NAME, variant: "vcm", config: { epochs: o.epochs, seed: o.seed }, modelsDir });
    const matrices = await loadDatasetMatrices(dataSource, STORED_NAME);
    const services = createPredictionServices({ dataSource, config: { dbPath: path.join(dir, "vcm.sqlite"), modelsDir } });
    const rng = new Rng(o.seed);
    // Users with a bag of words, at most `users` of them, in a seeded order.
    const rows = [...rng.permutation(matrices.words.rows)].filter((r) => matrices.words.indptr[r + 1] > matrices.words.indptr[r]).slice(0, o.users);
    const rankings = await services.inference.recommendMany(rows.map((row) => ({ modelId: model.id, source: "CLICKS", row, k: 5, excludeSeen: true })));
    const pairs: Array<{ row: number; item: number }> = [];
    rankings.forEach((ranked, i) => {
      if (ranked instanceof Error) throw ranked;
      for (const r of ranked) pairs.push({ row: rows[i], item: r.item });
    });
    const distributions = await services.inference.wordDistributionMany(rows.map((row) => ({ modelId: model.id, row })));
    const topWords = new Map<number, Set<number>>();
    rows.forEach((row, i) => {
      const d = distributions[i];
      if (d instanceof Error) throw d;
      topWords.set(row, new Set(topK({ scores: d, k: 50 })));
    });
    const loaded = await services.inference.model(model.id);
    const original = await loaded.model.scoreItems({ matrix: matrices.words, rows: pairs.map((p) => p.row) }, "vcm-cd");
    const items = matrices.train.cols;
    const figures: Figures[] = [];
    const variants: Array<{ rule: string; explanations: Array<Explanation | Error> }> = [];
    for (const rule of RULES) {
      variants.push({ rule, explanations: await services.inference.explainMany(pairs.map((p) => ({ modelId: model.id, row: p.row, item: p.item, k: o.k, rule }))) });
    }
    if (o.tried) {
      const stats = await services.inference.itemWordStats(loaded.datasetId);
      const effects = await services.inference.wordEffectsMany(pairs.map((p) => ({ modelId: model.id, row: p.row, item: p.item })));
      const byRow = new Map(rows.map((row, i) => [row, distributions[i] as Float32Array]));
      for (const variant of TRIED) {
        const explanations = pairs.map((p, i) => {
          const bag = effects[i];
          if (bag instanceof Error) throw bag;
          const userWords = byRow.get(p.row)!;
          const rewritten = Float64Array.from(bag.effects, (e, t) => variant.rewrite(e, userWords[bag.words[t]]));
          return explainPair({ stats, userWords, userTopWords: (d) => topK({ scores: userWords, k: d }), item: p.item, k: o.k, rule: "effect", bagEffects: { words: bag.words, effects: rewritten } });
        });
        variants.push({ rule: `effect: ${variant.name} (tried)`, explanations });
      }
    }
    // Reasons of the user's clicks, the same under every rule: those of the default rule's explanations.
    const clickOriginal = await loaded.model.scoreItems({ matrix: matrices.train, rows: pairs.map((p) => p.row) }, "vcm");
    const clickExplanations = variants[0].explanations;
    // The engine's own click deletions (the served model asks for them together with the words').
    const train = matrices.train;
    const rawEffects = (await loaded.model.clickEffects({ clicks: train, pairs })).map((effects, i) => ({ clicks: train.indices.subarray(train.indptr[pairs[i].row], train.indptr[pairs[i].row + 1]), effects }));
    const scoreHistories = async (histories: Array<Array<[number, number]>>) =>
      loaded.model.scoreItems({ matrix: csrFromRows({ cols: matrices.train.cols, rows: histories.map((h) => h.sort((x, y) => x[0] - y[0])) }), rows: histories.map((_, i) => i) }, "vcm");
    for (const list of CLICK_LISTS) {
      const listed = pairs.map((_, i) => list.choose({ ...rawEffects[i], k: o.k }));
      figures.push({ ...(await clickFaithfulness({ pairs, train: matrices.train, items, original: clickOriginal, listed, seed: o.seed, score: scoreHistories })), dataset: o.name, rule: list.name });
    }
    {
      // The top click alone against one random click, over the pairs with a click listed.
      const withoutTop: Array<Array<[number, number]>> = [];
      const withoutOne: Array<Array<[number, number]>> = [];
      const listedPairs: Array<{ item: number }> = [];
      const listedRows: number[] = [];
      const pick = new Rng(o.seed + 2);
      pairs.forEach((p, i) => {
        const e = clickExplanations[i];
        if (e instanceof Error) throw e;
        const history = rowOf(matrices.train, p.row);
        const clicked = [...history.keys()];
        const order = pick.permutation(clicked.length);
        if (e.clicks.length > 0) {
          const top = e.clicks[0].item;
          const one = clicked[order[0]];
          withoutTop.push([...history].filter(([c]) => c !== top));
          withoutOne.push([...history].filter(([c]) => c !== one));
          listedPairs.push(p);
          listedRows.push(i);
        }
      });
      const topOriginal = new Float32Array(listedRows.length * items);
      listedRows.forEach((i, j) => topOriginal.set(clickOriginal.subarray(i * items, (i + 1) * items), j * items));
      figures.push({
        ...drops({ pairs: listedPairs, items, original: topOriginal, afterExplained: await scoreHistories(withoutTop), afterRandom: await scoreHistories(withoutOne) }),
        dataset: o.name,
        rule: "clicks: the top one alone vs one random",
        pairs: listedPairs.length,
        support: 1,
        listed: 1,
        empty: 0,
        noReason: Number.NaN,
        withoutClick: withoutClickFigures({
          train: matrices.train,
          pairs,
          explanations: clickExplanations,
          prior: await loaded.model.scoreItems({ matrix: csrFromRows({ cols: items, rows: [[]] }), rows: [0] }, "vcm"),
        }),
      });
    }
    for (const { rule, explanations } of variants) {
      const withoutExplained: Array<Array<[number, number]>> = [];
      const withoutRandom: Array<Array<[number, number]>> = [];
      let supported = 0;
      let listed = 0;
      let empty = 0;
      const pick = new Rng(o.seed + 1);
      pairs.forEach((p, i) => {
        const e = explanations[i];
        if (e instanceof Error) throw e;
        const bag = rowOf(matrices.words, p.row);
        const explained = new Set(e.words.map((w) => w.wordIndex));
        if (explained.size === 0) empty += 1;
        for (const w of explained) {
          listed += 1;
          if (bag.has(w) || topWords.get(p.row)!.has(w)) supported += 1;
        }
        // As many random words of the same bag as the explanation lists (all of them in a smaller bag).
        const bagWords = [...bag.keys()];
        const order = pick.permutation(bagWords.length);
        const random = new Set([...order.subarray(0, Math.min(explained.size, bagWords.length))].map((j) => bagWords[j]));
        withoutExplained.push([...bag].filter(([w]) => !explained.has(w)));
        withoutRandom.push([...bag].filter(([w]) => !random.has(w)));
      });
      const score = async (bags: Array<Array<[number, number]>>) => {
        const matrix = csrFromRows({ cols: matrices.words.cols, rows: bags.map((b) => b.sort((x, y) => x[0] - y[0])) });
        // An emptied bag scores as an empty input: the model's prior ranking.
        return loaded.model.scoreItems({ matrix, rows: bags.map((_, i) => i) }, "vcm-cd");
      };
      const [afterExplained, afterRandom] = [await score(withoutExplained), await score(withoutRandom)];
      const n = pairs.length;
      let noReason = 0;
      let noReasonKind = 0;
      const kinds = { history: 0, popularity: 0 };
      pairs.forEach((_, i) => {
        const e = explanations[i] as Explanation;
        // The tried variants are built without clicks: their pairs' clicks are the default rule's.
        const { clicks, clickReason } = clickExplanations[i] as Explanation;
        if (e.words.length > 0 || clicks.length > 0) return;
        noReason += 1;
        if (clickReason === undefined || clickReason.kind === "clicks") noReasonKind += 1;
        else kinds[clickReason.kind] += 1;
      });
      figures.push({
        ...drops({ pairs, items, original, afterExplained, afterRandom }),
        dataset: o.name,
        rule,
        pairs: n,
        support: listed === 0 ? Number.NaN : supported / listed,
        listed: listed / n,
        empty: empty / n,
        noReason: noReason / n,
        noReasonWithKinds: { none: noReasonKind / n, history: kinds.history / n, popularity: kinds.popularity / n },
      });
    }
    await services.close();
    return figures;
  } finally {
    await dataSource.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      k: { type: "string", default: "5" },
      users: { type: "string", default: "300" },
      epochs: { type: "string", default: "40" },
      seed: { type: "string", default: "1" },
      tried: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const common = { k: Number(values.k), users: Number(values.users), epochs: Number(values.epochs), seed: Number(values.seed), tried: values.tried };
  const datasets: Array<{ name: string; source: RecordSource }> = [{ name: "generated 600 × 800 × 2,000", source: syntheticSource({ users: 600, items: 800, vocab: 2000, seed: 1 }) }];
  const amazon = amazonFolder();
  for (const file of ["All_Beauty_5.json.gz", "AMAZON_FASHION_5.json"]) {
    const full = amazon === undefined ? undefined : path.join(amazon, file);
    if (full !== undefined && fs.existsSync(full)) datasets.push({ name: `Amazon ${file}`, source: amazonSource({ reviews: full }) });
    else process.stderr.write(`# skipped ${file}: shared/datasets/amazon-2018-5core is not beside this checkout or a folder above it\n`);
  }
  const all: Figures[] = [];
  for (const d of datasets) {
    process.stderr.write(`# ${d.name}: ingest, train ${common.epochs} epochs, explain…\n`);
    all.push(...(await measure({ ...common, name: d.name, source: d.source })));
  }
  if (values.json) {
    console.log(JSON.stringify({ k: common.k, figures: all, loadAverage: os.loadavg()[0] }));
    return;
  }
  console.log(`k = ${common.k} words and clicks per explanation, top-5 recommendations of up to ${common.users} users; targets: ratio ≥ 3, support ≥ 0.8, no reason ≤ 0.02`);
  console.log("dataset                              rule                                       pairs  listed  empty  no reason  drop (explained)  drop (random)  ratio  ≥ 3 × random  support  log drop (expl / rand)  falls (expl / rand)");
  for (const f of all) {
    // A random deletion often raises the score (the bag is normalised, so the item's words gain weight): no ratio then.
    const ratio = f.randomDrop > 0 ? f.ratio.toFixed(2) : "—";
    const meets = f.explanationDrop > 0 && f.explanationDrop >= 3 * f.randomDrop ? "yes" : "no";
    console.log(
      `${f.dataset.padEnd(36)} ${f.rule.padEnd(42)} ${String(f.pairs).padStart(5)}  ${f.listed.toFixed(2).padStart(6)}  ${f.empty.toFixed(2).padStart(5)}  ${(Number.isNaN(f.noReason) ? "—" : f.noReason.toFixed(3)).padStart(9)}  ${f.explanationDrop.toFixed(4).padStart(16)}  ${f.randomDrop.toFixed(4).padStart(13)}  ${ratio.padStart(5)}  ${meets.padStart(12)}  ${f.support.toFixed(3).padStart(7)}  ${`${f.explanationLogDrop.toFixed(4)} / ${f.randomLogDrop.toFixed(4)}`.padStart(22)}  ${`${f.explanationFalls.toFixed(3)} / ${f.randomFalls.toFixed(3)}`.padStart(19)}`,
    );
  }
  for (const f of all) {
    const w = f.withoutClick;
    if (w === undefined || Number.isNaN(w.history)) continue;
    console.log(
      `# ${f.dataset}: pairs without a click reason: users with ${w.history.toFixed(1)} training clicks (all pairs ${w.allHistory.toFixed(1)}), items with ${w.popularity.toFixed(1)} training clicks (all pairs ${w.allPopularity.toFixed(1)}); ` +
        `of them ${w.together} of kind history (mean Δ ${w.historyEffect.toFixed(3)}), ${w.popular} of kind popularity (mean place for an empty history ${w.popularRank.toFixed(1)} of ${w.items} items, items with ${w.popularItemClicks.toFixed(1)} training clicks; ` +
        `every item ${w.itemMeanClicks.toFixed(1)}; Spearman ρ of the empty history's ranking and the items' training clicks ${w.priorVsClicks.toFixed(2)})`,
    );
  }
  for (const f of all) {
    const r = f.noReasonWithKinds;
    if (r === undefined) continue;
    console.log(
      `# ${f.dataset}, ${f.rule}: no word and no click ${(100 * f.noReason).toFixed(1)} %: of kind history ${(100 * r.history).toFixed(1)} %, popularity ${(100 * r.popularity).toFixed(1)} %, no reason at all ${(100 * r.none).toFixed(1)} %`,
    );
  }
  console.log("# drop: mean relative fall of the item's VCM-CD score when the listed words (or as many random words of the bag) leave the user's bag of words");
  console.log("# clicks: the same for the listed clicks of the user's history (or as many random clicks of it) and the item's VCM score from clicks");
  console.log("# log drop: mean fall of log π_ui (no Jensen bias); falls: share of pairs whose score falls; listed: mean words (clicks) listed per pair; empty: share of pairs with none; no reason: share with neither a word nor a click");
  console.log(`# ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, Node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}`);
}

await main();
