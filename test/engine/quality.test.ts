/**
 * Model quality on planted data (test/engine/planted.ts): hidden taste groups drive both clicks and
 * words, clicks are noisy (60 % in-group) and words plentiful, activity runs from 5 to 40 clicks.
 * It shows that every variant learns more than popularity, that the words help VCM where clicks are
 * few (users with ≤ 10 training clicks), that VCM-CD recommends from text alone, and that the
 * capacity ĉu grows with activity, as the paper's Table 3 reports.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../src/engine/backend.ts";
import { evaluateRanking } from "../../src/engine/evaluate.ts";
import { meanDefined } from "../../src/engine/metrics.ts";
import type { VcmModel } from "../../src/engine/model.ts";
import { trainModel } from "../../src/engine/train.ts";
import type { Variant } from "../../src/engine/types.ts";
import { plantedData } from "./planted.ts";

/** Data seed; checked locally with seeds 1–4 (and training seeds alike) before trusting the margins. */
const SEED = 1;
const data = plantedData({ users: 600, items: 300, vocab: 400, groups: 10, clickFocus: 0.6, wordFocus: 0.7, seed: 10 + SEED });
const config = { latentDim: 16, hiddenX: 64, hiddenY: 64, epochs: 25, batchSize: 64, annealSteps: 200, seed: SEED };
const models = new Map<Variant, VcmModel>();

function ndcg10(model: VcmModel, mode: "vcm" | "vcm-cd" = "vcm"): { all: number; sparse: number } {
  const ev = evaluateRanking({ model, mode, input: mode === "vcm" ? data.train : data.words, heldOut: data.test, exclude: data.train, ks: [10] });
  const perUser = ev.perUser["ndcg@10"];
  const sparse = perUser.filter((_, r) => data.train.indptr[r + 1] - data.train.indptr[r] <= 10);
  return { all: ev.means["ndcg@10"], sparse: meanDefined(sparse) };
}

beforeAll(async () => {
  await initBackend("wasm");
  for (const variant of ["popularity", "vcm", "vcm-se", "vcm-od", "vcm-nv"] as const) {
    models.set(variant, await trainModel({ train: data.train, validation: data.validation, words: data.words, config: { ...config, variant } }));
  }
});

describe("quality on planted data", () => {
  it.each(["vcm", "vcm-se", "vcm-od", "vcm-nv"] as const)("%s beats popularity on test NDCG@10", (variant) => {
    const floor = ndcg10(models.get("popularity")!).all;
    // Popularity is near 0.03 here and the VAEs near 0.15–0.2: a margin of 2× leaves room for seeds.
    expect(ndcg10(models.get(variant)!).all).toBeGreaterThan(2 * floor);
  });

  it("vcm beats vcm-se on NDCG@10 among users with at most 10 training clicks", () => {
    const vcm = ndcg10(models.get("vcm")!).sparse;
    const se = ndcg10(models.get("vcm-se")!).sparse;
    // Across data and training seeds 1–3 the gap was 0.04–0.07 (vcm ≈ 0.15, vcm-se ≈ 0.09–0.11).
    expect(vcm).toBeGreaterThan(se + 0.01);
  });

  it("vcm-cd (items from words alone) beats popularity", () => {
    const floor = ndcg10(models.get("popularity")!).all;
    expect(ndcg10(models.get("vcm")!, "vcm-cd").all).toBeGreaterThan(2 * floor);
  });

  it("mean capacity ĉu rises with activity level", () => {
    const model = models.get("vcm")!;
    const rows = Array.from({ length: data.train.rows }, (_, r) => r);
    const capacity = model.capacity({ matrix: data.train, rows });
    // Three cohorts by training clicks, as the paper's activity levels: ≤ 6, 7–12, > 12.
    const cohort = (r: number): number => {
      const n = data.train.indptr[r + 1] - data.train.indptr[r];
      return n <= 6 ? 0 : n <= 12 ? 1 : 2;
    };
    const sums = [0, 0, 0];
    const counts = [0, 0, 0];
    rows.forEach((r) => {
      sums[cohort(r)] += capacity[r];
      counts[cohort(r)] += 1;
    });
    const means = sums.map((s, c) => s / counts[c]);
    expect(Math.min(...counts)).toBeGreaterThan(30);
    expect(means[1]).toBeGreaterThan(means[0]);
    expect(means[2]).toBeGreaterThan(means[1]);
  });
});
