import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from "type-graphql";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { Experiment } from "../../db/entities/experiment.entity.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import type { GraphQLContext } from "../context.ts";
import { DatasetType } from "../types/dataset.type.ts";
import { ExperimentType } from "../types/experiment.type.ts";
import { parseId, requireDataset, requireLoaded } from "./lookup.ts";

@Resolver(() => ExperimentType)
export class ExperimentResolver {
  @Query(() => [ExperimentType], { description: "Experiments run by `vcm experiment`, newest first, optionally of one dataset (by name)." })
  async experiments(@Ctx() context: GraphQLContext, @Arg("dataset", () => String, { nullable: true }) dataset: string | null): Promise<Experiment[]> {
    const datasetId = dataset === null ? null : (await requireDataset(context, { name: dataset })).id;
    return context.catalog.experiments(datasetId);
  }

  @Query(() => ExperimentType, { description: "One experiment. NOT_FOUND when absent." })
  async experiment(@Ctx() context: GraphQLContext, @Arg("id", () => ID) id: string): Promise<Experiment> {
    const experiment = await context.catalog.experimentById(parseId(id, "Experiment"));
    if (experiment === null) throw new UserError(ErrorCode.NOT_FOUND, `There is no experiment ${id}; list them with the experiments query.`);
    return experiment;
  }

  @FieldResolver(() => DatasetType)
  dataset(@Root() experiment: Experiment, @Ctx() context: GraphQLContext): Promise<Dataset> {
    return requireLoaded(context.loaders.datasetById.load(experiment.datasetId), `dataset ${experiment.datasetId}`);
  }
}
