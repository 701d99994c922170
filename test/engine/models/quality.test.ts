/**
 * Model quality on the data `vcm generate` makes, through the path a user's data takes: the generator
 * (src/data/generate.ts) ingested into a real SQLite file (filter, 60/20/20 split, vocabulary, leakage
 * rule), then loaded as matrices. The shape is item-sparse on purpose (1,500 items for 800 users,
 * 30 planted topics, about 6 training clicks per item), the regime the paper targets: clicks alone
 * say little about most items, while every user's reviews name their topics.
 * It shows that every variant learns more than popularity, that the words help VCM where clicks are
 * few (users with ≤ 10 training clicks), that VCM-CD recommends from text alone, and that the
 * capacity ĉu grows with activity, as the paper's Table 3 reports.
 *
 * Checked with data seeds 1–7 × training seeds 1–2 (same shape and config) before fixing the margins:
 * popularity NDCG@10 0.018–0.026; the VAE variants 0.139–0.220; VCM-CD 0.180–0.206; on sparse users VCM
 * beat VCM-Se by 0.022–0.046; mean ĉu per cohort ≈ 18–19 / 24–27 / 36–39 (35.8 once). The file runs in about 30 s.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatasetMatrices } from "../../../src/data/csr.ts";
import { syntheticSource } from "../../../src/data/generate.ts";
import { openDatabase } from "../../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../../src/db/load-dataset-matrices.ts";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { evaluateRanking } from "../../../src/engine/evaluate.ts";
import { meanDefined } from "../../../src/engine/metrics.ts";
import { trainModel, type Recommender } from "../../../src/engine/models/index.ts";
import type { Variant } from "../../../src/engine/types.ts";
import { ingestDataset } from "../../../src/services/ingest.ts";
import { resolveVcmConfig } from "../../../src/engine/config.ts";

const DATA_SEED = 1;
const SHAPE = { users: 800, items: 1_500, vocab: 1_500, seed: DATA_SEED };
const CONFIG = { latentDim: 32, hiddenX: 128, hiddenY: 128, epochs: 25, batchSize: 64, annealSteps: 200, seed: 1 };
/** Users with at most this many training clicks are the sparse cohort of the issue. */
const SPARSE_MAX_CLICKS = 10;

let dir: string;
let data: DatasetMatrices;
const models = new Map<Variant, Recommender>();

function trainClicks(r: number): number {
  return data.train.indptr[r + 1] - data.train.indptr[r];
}

async function ndcg10(model: Recommender, mode: "vcm" | "vcm-cd" = "vcm"): Promise<{ all: number; sparse: number }> {
  const ev = await evaluateRanking({ model, mode, input: mode === "vcm" ? data.train : data.words, heldOut: data.test, exclude: data.train, ks: [10] });
  const perUser = ev.perUser["ndcg@10"];
  const sparse = perUser.filter((_, j) => trainClicks(ev.rows[j]) <= SPARSE_MAX_CLICKS);
  return { all: ev.means["ndcg@10"], sparse: meanDefined(sparse) };
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-quality-"));
  const db = await openDatabase(path.join(dir, "db.sqlite"));
  try {
    await ingestDataset(db, { name: "planted", source: syntheticSource(SHAPE), preprocess: { vocabSize: SHAPE.vocab, seed: DATA_SEED } });
    data = await loadDatasetMatrices(db, "planted");
  } finally {
    await db.destroy();
  }
  await initBackend("wasm");
  for (const variant of ["popularity", "vcm", "vcm-se", "vcm-od", "vcm-nv"] as const) {
    models.set(variant, await trainModel({ train: data.train, validation: data.validation, words: data.words, config: resolveVcmConfig({ ...CONFIG, variant }) }));
  }
}, 180_000);

afterAll(async () => {
  if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
});

describe("quality on data from `vcm generate`", () => {
  it("keeps a sparse cohort large enough to measure", () => {
    const sparse = Array.from({ length: data.train.rows }, (_, r) => r).filter((r) => trainClicks(r) <= SPARSE_MAX_CLICKS);
    expect(data.train.rows).toBe(SHAPE.users);
    expect(sparse.length).toBeGreaterThan(200);
  });

  it.each(["vcm", "vcm-se", "vcm-od", "vcm-nv"] as const)("%s beats popularity on test NDCG@10", async (variant) => {
    const floor = (await ndcg10(models.get("popularity")!)).all;
    // Every variant learns the planted topics: the worst run seen was 6× popularity, so 3× leaves room.
    expect((await ndcg10(models.get(variant)!)).all).toBeGreaterThan(3 * floor);
  });

  it("vcm beats vcm-se on NDCG@10 among users with at most 10 training clicks", async () => {
    const vcm = (await ndcg10(models.get("vcm")!)).sparse;
    const se = (await ndcg10(models.get("vcm-se")!)).sparse;
    // The cross KL lets text teach the click encoder what rarely clicked items mean; the smallest gap seen was 0.022.
    expect(vcm).toBeGreaterThan(se + 0.01);
  });

  it("vcm-cd (items from words alone) beats popularity", async () => {
    const floor = (await ndcg10(models.get("popularity")!)).all;
    // Ranking from a user's words alone reached at least 7.8× popularity across the seeds tried.
    expect((await ndcg10(models.get("vcm")!, "vcm-cd")).all).toBeGreaterThan(3 * floor);
  });

  it("mean capacity ĉu rises with activity level", async () => {
    const model = models.get("vcm")!;
    const rows = Array.from({ length: data.train.rows }, (_, r) => r);
    const capacity = await model.capacity({ matrix: data.train, rows });
    // Three cohorts by training clicks, as the paper's activity levels: ≤ 6, 7–12, > 12.
    const cohort = (r: number): number => {
      const n = trainClicks(r);
      return n <= 6 ? 0 : n <= 12 ? 1 : 2;
    };
    const sums = [0, 0, 0];
    const counts = [0, 0, 0];
    rows.forEach((r) => {
      sums[cohort(r)] += capacity[r];
      counts[cohort(r)] += 1;
    });
    const means = sums.map((s, c) => s / counts[c]);
    expect(Math.min(...counts)).toBeGreaterThan(100);
    // Seen: about 18 / 25 / 37; each step was at least 5 nats.
    expect(means[1]).toBeGreaterThan(means[0] + 2);
    expect(means[2]).toBeGreaterThan(means[1] + 2);
  });
});
