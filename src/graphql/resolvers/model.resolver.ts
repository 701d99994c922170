import type { GraphQLResolveInfo } from "graphql";
import { Arg, Ctx, FieldResolver, ID, Info, Int, Query, Resolver, Root } from "type-graphql";
import { ErrorCode, UserError } from "../../errors.ts";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { MetricMap, TrainedModel } from "../../db/entities/trained-model.entity.ts";
import type { EpochRecord } from "../../engine/types.ts";
import type { GraphQLContext } from "../context.ts";
import {
  EpochRecordType,
  ModelStatusEnum,
  PredictionModeEnum,
  RankingMetricsType,
  TrainedModelType,
} from "../types/trained-model.type.ts";
import { DatasetType } from "../types/dataset.type.ts";
import { BeyondAccuracyType } from "../types/cohort.type.ts";
import type { BeyondAccuracyFigures } from "../../services/cohorts.ts";
import { hasWordModel } from "../../services/model-names.ts";
import type { Variant } from "../../engine/types.ts";
import { predictionOf } from "./prediction.resolver.ts";
import { requireDataset, requireLoaded, requireModel } from "./lookup.ts";

/** Turns a stored `{"ndcg@10": …}` map into the GraphQL metrics object (null where not computed). */
function toRankingMetrics(mode: PredictionModeEnum, metrics: MetricMap): RankingMetricsType {
  const at = (name: string): number | null => (typeof metrics[name] === "number" ? metrics[name]! : null);
  return {
    mode,
    ndcgAt10: at("ndcg@10"),
    ndcgAt20: at("ndcg@20"),
    ndcgAt50: at("ndcg@50"),
    ndcgAt100: at("ndcg@100"),
    recallAt10: at("recall@10"),
    recallAt20: at("recall@20"),
    recallAt50: at("recall@50"),
    recallAt100: at("recall@100"),
  };
}

@Resolver(() => TrainedModelType)
export class ModelResolver {
  @Query(() => [TrainedModelType], {
    description: "Trained models, newest first: of one dataset (by name) or of all, optionally of one status.",
  })
  async models(
    @Ctx() context: GraphQLContext,
    @Arg("dataset", () => String, { nullable: true, description: "Dataset name; all datasets when omitted." })
    dataset: string | null,
    @Arg("status", () => ModelStatusEnum, { nullable: true }) status: ModelStatusEnum | null,
  ): Promise<TrainedModel[]> {
    const models =
      dataset == null
        ? await context.catalog.modelsOfDatasets(null)
        : await context.loaders.modelsOfDataset.load((await requireDataset(context, { name: dataset })).id);
    return status == null ? models : models.filter((model) => model.status === status);
  }

  @Query(() => TrainedModelType, { description: "One trained model by id. NOT_FOUND when absent." })
  async model(@Arg("id", () => ID) id: string, @Ctx() context: GraphQLContext): Promise<TrainedModel> {
    return requireModel(context, id);
  }

  @FieldResolver(() => DatasetType)
  async dataset(@Root() model: TrainedModel, @Ctx() context: GraphQLContext): Promise<Dataset> {
    return requireLoaded(context.loaders.datasetById.load(model.datasetId), `dataset ${model.datasetId}`);
  }

  @FieldResolver(() => Int, {
    description:
      "Items appended to the dataset since the model was trained. The model has no output for them: it cannot recommend them, and clicks on them are left out of the histories it reads; train again (or warm-start) to include them.",
  })
  async itemsAddedSince(@Root() model: TrainedModel, @Ctx() context: GraphQLContext): Promise<number> {
    const dataset = await requireLoaded(context.loaders.datasetById.load(model.datasetId), `dataset ${model.datasetId}`);
    return Math.max(0, dataset.itemCount - model.itemCount);
  }

  @FieldResolver(() => Int, {
    description:
      "Users appended to the dataset since the model was trained. The model answers for them from their histories (its encoders take any history); they were not part of its training or its test metrics.",
  })
  async usersAddedSince(@Root() model: TrainedModel, @Ctx() context: GraphQLContext): Promise<number> {
    const dataset = await requireLoaded(context.loaders.datasetById.load(model.datasetId), `dataset ${model.datasetId}`);
    return Math.max(0, dataset.userCount - model.userCount);
  }

  @FieldResolver(() => Boolean, {
    description:
      "Whether the model decodes words from clicks (click2review): top words, explanations, highlights and capacity. True for the VCM variants; false for the baselines (CDL, CVAE, DeepCoNN, popularity), which those fields refuse with a sentence.",
  })
  decodesWords(@Root() model: TrainedModel): boolean {
    return hasWordModel(model.variant as Variant);
  }

  @FieldResolver(() => RankingMetricsType, {
    nullable: true,
    description:
      "Test-split NDCG and Recall at 10/20/50/100 for one prediction mode; null until evaluated, or for " +
      "VCM_CD on a model without a word model.",
  })
  testMetrics(
    @Root() model: TrainedModel,
    @Arg("mode", () => PredictionModeEnum, { defaultValue: PredictionModeEnum.VCM }) mode: PredictionModeEnum,
  ): RankingMetricsType | null {
    const metrics = model.testMetrics?.[mode];
    return metrics === undefined ? null : toRankingMetrics(mode, metrics);
  }

  @FieldResolver(() => BeyondAccuracyType, {
    nullable: true,
    complexity: 50,
    description:
      "Catalogue coverage, ARP, APLT and novelty of the model's top 10 over its test users (the cohorts query's figures over all users, long tail at the default shares); null unless the model is ready. The first call per model ranks every test user, like cohorts, so it is given for one model at a time (model(id)); in a list of models it is BAD_USER_INPUT.",
  })
  async beyondAccuracy(@Root() model: TrainedModel, @Ctx() context: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<BeyondAccuracyFigures | null> {
    // A list's length is unknown to the cost estimate, so a list of models could rank every test user of each.
    for (let at: GraphQLResolveInfo["path"] | undefined = info.path; at !== undefined; at = at.prev) {
      if (typeof at.key === "number") {
        throw new UserError(ErrorCode.BAD_USER_INPUT, "beyondAccuracy ranks every test user of a model, so it is given for one model per field: ask model(id: …) { beyondAccuracy } or cohorts(modelId: …) instead of a list of models.");
      }
    }
    if (model.status !== "ready") return null;
    return predictionOf(context).services.cohorts.beyondAccuracy(model.id);
  }

  @FieldResolver(() => [RankingMetricsType], { description: "Test metrics of every mode evaluated." })
  allTestMetrics(@Root() model: TrainedModel): RankingMetricsType[] {
    const stored = model.testMetrics;
    if (stored === null) return [];
    return Object.values(PredictionModeEnum).flatMap((mode) =>
      stored[mode] === undefined ? [] : [toRankingMetrics(mode, stored[mode]!)],
    );
  }

  @FieldResolver(() => [EpochRecordType], { description: "Per-epoch loss terms, β, validation NDCG@100 and seconds." })
  trainingCurve(@Root() model: TrainedModel): ReadonlyArray<EpochRecord> {
    return model.history;
  }
}
