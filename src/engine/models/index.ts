/**
 * The models part of the engine, by family: VCM and its ablations (vcm/), the popularity floor
 * (popularity.ts) and the paper baselines (baselines/), each implementing the one interface of
 * recommender.ts. Callers train and load through here and never name a family themselves.
 */
import { currentBackend, currentDevice, initBackend } from "../runtime/index.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { resolveStoredVcmConfig, warmStartConflict, type VcmConfig } from "../config.ts";
import { capabilitiesOf, isBaseline, type BaselineVariant, type ModelSnapshot, type Variant } from "../types.ts";
import { baselineOf } from "./baselines/index.ts";
import { BaselineModel } from "./baselines/model.ts";
import { trainBaseline } from "./baselines/train.ts";
import { checkShapes } from "./epochs.ts";
import { PopularityModel } from "./popularity.ts";
import type { Recommender, RecommenderFamily, TrainOptions } from "./recommender.ts";
import { VcmModel } from "./vcm/model.ts";
import { trainVcm } from "./vcm/train.ts";
import { paramSpecs } from "./vcm/vae.ts";

/** Trainable numbers of a list of weight shapes. */
function numbersOf(specs: ReadonlyArray<{ shape: ReadonlyArray<number> }>): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
}

const VCM_FAMILY: RecommenderFamily = {
  train: (o) => trainVcm(o),
  fromSnapshot: (s) => VcmModel.fromSnapshot(s),
  parameterCount: (sizes) => numbersOf(paramSpecs(sizes)),
};

const POPULARITY_FAMILY: RecommenderFamily = {
  train: async (o) => PopularityModel.train(o),
  fromSnapshot: (s) => PopularityModel.fromSnapshot(s),
  // One count per item.
  parameterCount: (sizes) => sizes.numItems,
};

/** The family of one paper baseline. */
function baselineFamily(variant: BaselineVariant): RecommenderFamily {
  return {
    train: (o) => trainBaseline({ ...o, variant }),
    fromSnapshot: (s) => BaselineModel.fromSnapshot(s),
    parameterCount: (sizes) => numbersOf(baselineOf(variant).specs(sizes)),
  };
}

/** The family that makes a variant's models. */
export function familyOf(variant: Variant): RecommenderFamily {
  if (variant === "popularity") return POPULARITY_FAMILY;
  return isBaseline(variant) ? baselineFamily(variant) : VCM_FAMILY;
}

/** Trains the configured variant on the current backend and returns the model with its best epoch's weights. */
export async function trainModel(options: TrainOptions): Promise<Recommender> {
  checkShapes(options);
  if (options.from !== undefined) checkWarmStart(options.from, options.config);
  await initBackend();
  return familyOf(options.config.variant).train({ ...options, backend: currentBackend(), device: currentDevice() });
}

/** Refuses a warm start from a model the variant cannot continue, or of another variant or weight shape. */
function checkWarmStart(from: ModelSnapshot, config: VcmConfig): void {
  if (!capabilitiesOf(from.variant).warmStart) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `a ${from.variant} model cannot be continued (a warm start continues VCM models only); train it from scratch`);
  }
  const conflict = warmStartConflict({ saved: resolveStoredVcmConfig({ ...from.config, variant: from.variant }), requested: config, model: "the saved model" });
  if (conflict !== undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, conflict);
}

/** Rebuilds a model of any variant from a snapshot on the current backend, checking every weight's name and shape. */
export function recommenderFromSnapshot(snapshot: ModelSnapshot): Recommender {
  return familyOf(snapshot.variant).fromSnapshot(snapshot);
}

export type { ModelSizes, Recommender, RecommenderFamily, TrainOptions } from "./recommender.ts";
export { VcmModel } from "./vcm/model.ts";
