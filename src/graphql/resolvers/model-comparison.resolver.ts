import { Arg, Ctx, ID, Query, Resolver } from "type-graphql";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import { compareModelsOnTest } from "../../services/model-comparison.ts";
import type { GraphQLContext } from "../context.ts";
import { ModelComparisonType } from "../types/model-comparison.type.ts";
import { requireLoaded, requireModel } from "./lookup.ts";
import { finiteOrLimit } from "./model-alias.resolver.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** Two models of one dataset compared on the same test users (the dashboard's models view). */
@Resolver(() => ModelComparisonType)
export class ModelComparisonResolver {
  @Query(() => ModelComparisonType, {
    complexity: 50,
    description:
      "Two READY models of the same dataset on the same test users (users with at least one test click): NDCG@10, NDCG@100, Recall@20 and Recall@50 of each (the cohort analysis's evaluation: VCM ranking from training clicks with training clicks excluded, computed once per model and reused) with the paper's paired t-test of model − compared. NOT_FOUND for an unknown model; BAD_USER_INPUT for the same model twice, a model that is not READY, or models of different datasets.",
  })
  async compareModels(
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, { description: "A READY model." }) modelId: string,
    @Arg("compareTo", () => ID, { description: "Another READY model of the same dataset." }) compareTo: string,
  ): Promise<ModelComparisonType> {
    const [model, compared] = [await requireModel(context, modelId), await requireModel(context, compareTo)];
    const row = async (m: TrainedModel) => ({ ...m, datasetName: (await requireLoaded(context.loaders.datasetById.load(m.datasetId), `dataset ${m.datasetId}`)).name });
    const report = await compareModelsOnTest({ model: await row(model), compared: await row(compared), evaluation: (id) => predictionOf(context).services.cohorts.evaluation(id) });
    return { model, compared, users: report.users, metrics: report.metrics.map((m) => ({ ...m, statistic: finiteOrLimit(m.statistic) })) };
  }
}
