/**
 * Every variant's model is a Recommender of its own family (no model is a flag inside another): its
 * capabilities are its row of VARIANT_CAPABILITIES, each call that row gates is answered or refused
 * by it, its family counts the parameters its snapshot holds, and its snapshot loads back into the
 * same family with the same scores.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolveVcmConfig } from "../../../src/engine/config.ts";
import { BaselineModel } from "../../../src/engine/models/baselines/model.ts";
import { familyOf, recommenderFromSnapshot, trainModel, VcmModel, type Recommender } from "../../../src/engine/models/index.ts";
import { PopularityModel } from "../../../src/engine/models/popularity.ts";
import { initBackend } from "../../../src/engine/runtime/index.ts";
import { isBaseline, VARIANT_CAPABILITIES, VARIANTS, type Variant } from "../../../src/engine/types.ts";
import { ErrorCode } from "../../../src/errors.ts";
import { plantedData } from "../planted.ts";

const data = plantedData({ users: 40, items: 60, vocab: 30, groups: 2, seed: 4 });
const SMALL = { latentDim: 4, hiddenX: 8, hiddenY: 8, batchSize: 20, evalBatchSize: 20, epochs: 1, baselineLatentDim: 4, sdaeHidden: 8, cvaeHiddenOuter: 8, cvaeHiddenInner: 6, deepconnEmbedding: 8, deepconnFilters: 8, deepconnTokens: 12 };
const models = new Map<Variant, Recommender>();

beforeAll(async () => {
  await initBackend("wasm");
  for (const variant of VARIANTS) {
    models.set(variant, await trainModel({ train: data.train, validation: data.validation, words: data.words, config: resolveVcmConfig({ ...SMALL, variant }) }));
  }
});

/** The class each family's models are, by variant. */
function expectedClass(variant: Variant): unknown {
  if (variant === "popularity") return PopularityModel;
  return isBaseline(variant) ? BaselineModel : VcmModel;
}

describe("every model is a Recommender of its own family", () => {
  it.each(VARIANTS)("%s: its class, its capabilities row, and its family's parameter count", async (variant) => {
    const model = models.get(variant)!;
    expect(model).toBeInstanceOf(expectedClass(variant));
    expect(model.variant).toBe(variant);
    expect(model.capabilities).toEqual(VARIANT_CAPABILITIES[variant]);
    const snapshot = await model.snapshot();
    const stored = snapshot.weights.reduce((sum, w) => sum + w.values.length, 0);
    expect(familyOf(variant).parameterCount({ numUsers: data.train.rows, numItems: data.train.cols, numWords: data.words.cols, config: model.config })).toBe(stored);
  });

  it.each(VARIANTS)("%s: answers exactly the gated calls its capabilities row allows", async (variant) => {
    const model = models.get(variant)!;
    const row = VARIANT_CAPABILITIES[variant];
    const clicks = { matrix: data.train, rows: [0, 1] };
    const gated: Array<[boolean, () => Promise<unknown>]> = [
      [row.capacity, () => model.capacity(clicks)],
      [row.clickToReview, () => model.wordDistribution(clicks)],
      [row.clickToReview, () => model.wordEffects({ words: data.words, pairs: [{ row: 0, item: 1 }] })],
      [row.capacity, () => model.clickEffects({ clicks: data.train, pairs: [{ row: 0, item: 1 }] })],
      [row.posterior, () => model.latent(clicks, "x")],
    ];
    for (const [allowed, call] of gated) {
      if (allowed) await expect(call()).resolves.toBeDefined();
      else await expect(call()).rejects.toMatchObject({ code: ErrorCode.BAD_USER_INPUT, message: expect.stringMatching(new RegExp(`^the ${variant} baseline has no .*; use a vcm model$`)) });
    }
  });

  it.each(VARIANTS)("%s: its snapshot loads back into the same family with the same scores", async (variant) => {
    const model = models.get(variant)!;
    const copy = recommenderFromSnapshot(await model.snapshot());
    try {
      expect(copy).toBeInstanceOf(expectedClass(variant));
      const input = { matrix: data.train, rows: [0, 5, 9] };
      expect(Array.from(await copy.scoreItems(input, "vcm"))).toEqual(Array.from(await model.scoreItems(input, "vcm")));
    } finally {
      copy.dispose();
    }
  });
});
