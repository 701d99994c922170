import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import { aliasReport, listAliases, removeModelAlias, setModelAlias, type AliasReport, type ModelAliasSummary } from "../../services/model-aliases.ts";
import type { GraphQLContext } from "../context.ts";
import { AliasCandidateInput, AliasReportType, ModelAliasType } from "../types/model-alias.type.ts";
import { TrainedModelType } from "../types/trained-model.type.ts";
import { UserType } from "../types/user.type.ts";
import { parseId, requireModel } from "./lookup.ts";
import { ALIAS_DATASET_ARGUMENT_DESCRIPTION, chooseModel, MODEL_ARGUMENT_DESCRIPTION } from "./model-ref.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** GraphQL's Float has no infinities: a t of ±∞ (all paired differences equal) is sent as the largest float. */
export function finiteOrLimit(value: number): number {
  return Number.isFinite(value) ? value : Math.sign(value) * Number.MAX_VALUE;
}

/** Model aliases and A/B splits (src/services/model-aliases.ts). */
@Resolver(() => ModelAliasType)
export class ModelAliasResolver {
  @Mutation(() => ModelAliasType, {
    description:
      "Creates or replaces a model alias of a dataset: every field that takes modelId also takes model: \"<alias>\". With a candidate, a stable share of the dataset's users (by a SHA-256 of dataset, alias and the user's external id) gets the candidate instead; every server serves the change before its next request through the alias. Needs an admin credential (FORBIDDEN for an analyst key). NOT_FOUND for an unknown dataset or a model that is not a READY model of it; BAD_USER_INPUT for a bad alias name, a share outside 0–1 or a candidate equal to the model.",
  })
  async setModelAlias(
    @Ctx() context: GraphQLContext,
    @Arg("dataset", () => String, { description: "Name of the dataset." }) dataset: string,
    @Arg("alias", () => String) alias: string,
    @Arg("modelId", () => ID, { description: "The READY model of the dataset the alias serves." }) modelId: string,
    @Arg("candidate", () => AliasCandidateInput, { nullable: true, description: "An A/B split: another model for a share of the users." }) candidate: AliasCandidateInput | null | undefined,
    @Arg("logServing", () => Boolean, { defaultValue: false, description: "Log the recommendations served through the alias, for aliasReport's online hit rate." }) logServing: boolean,
  ): Promise<ModelAliasSummary> {
    const summary = await setModelAlias(context.deps.dataSource, {
      dataset,
      alias,
      modelId: parseId(modelId, "Model"),
      candidate: candidate == null ? null : { modelId: parseId(candidate.modelId, "Model"), share: candidate.share },
      logServing,
    });
    // This server's own commit does not move its commit watch.
    context.prediction?.services.aliases.invalidate();
    return summary;
  }

  @Mutation(() => String, { description: "Removes a model alias of a dataset and answers its name (its serving log stays until its retention ends). Needs an admin credential. NOT_FOUND when the dataset has no such alias." })
  async removeModelAlias(@Ctx() context: GraphQLContext, @Arg("dataset", () => String) dataset: string, @Arg("alias", () => String) alias: string): Promise<string> {
    await removeModelAlias(context.deps.dataSource, { dataset, alias });
    context.prediction?.services.aliases.invalidate();
    return alias;
  }

  @Query(() => [ModelAliasType], { description: "The model aliases, by dataset and name." })
  modelAliases(@Ctx() context: GraphQLContext, @Arg("dataset", () => String, { nullable: true, description: "Only this dataset's." }) dataset: string | null | undefined): Promise<ModelAliasSummary[]> {
    return listAliases(context.deps.dataSource, dataset);
  }

  @Query(() => AliasReportType, {
    complexity: 50,
    description:
      "An alias's model and candidate on the same test users: NDCG@10 and Recall@20 of each (the cohort analysis's evaluation, computed once per model and reused) with the paper's paired t-test of candidate against model, and, for an alias with logServing, each arm's online hit rate: the share of the (user, item) pairs it served that the user clicked afterwards (appended clicks). NOT_FOUND for an unknown alias or one that names a model that is not READY any more.",
  })
  async aliasReport(
    @Ctx() context: GraphQLContext,
    @Arg("alias", () => String) alias: string,
    @Arg("dataset", () => String, { nullable: true, description: ALIAS_DATASET_ARGUMENT_DESCRIPTION }) dataset: string | null | undefined,
  ): Promise<AliasReport> {
    const prediction = predictionOf(context);
    const resolved = await prediction.services.aliases.resolve({ name: alias, datasetName: dataset ?? null });
    const report = await aliasReport({ dataSource: context.deps.dataSource, alias: resolved, evaluate: (modelId) => prediction.services.cohorts.evaluation(modelId) });
    return {
      ...report,
      comparisons: report.comparisons.map((c) => ({ ...c, statistic: finiteOrLimit(c.statistic) })),
    };
  }
}

/** Which model answers a user's fields asked through a `model` argument. */
@Resolver(() => UserType)
export class UserServedByResolver {
  @FieldResolver(() => TrainedModelType, {
    description: "The model that answers this user's recommendations, topWords, capacity and explanation fields asked with this `model` (an id, or an alias: its candidate when the user is in the candidate's share).",
  })
  async servedBy(@Root() user: User, @Ctx() context: GraphQLContext, @Arg("model", () => String, { description: MODEL_ARGUMENT_DESCRIPTION }) model: string): Promise<TrainedModel> {
    const { modelId } = await chooseModel(context, { model, user });
    return requireModel(context, modelId);
  }
}
