import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { Experiment } from "../../db/entities/experiment.entity.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { experimentFigures, experimentTables, noSuchExperiment } from "../../services/experiment.ts";
import type { ReportFigure } from "../../services/experiment-plots.ts";
import { JOB_UPDATE_WINDOW_MS } from "../../services/job-updates.ts";
import type { GraphQLContext } from "../context.ts";
import { DatasetType } from "../types/dataset.type.ts";
import { ExperimentFigureType, ExperimentType, StartExperimentInput } from "../types/experiment.type.ts";
import { parseId, requireDataset, requireLoaded } from "./lookup.ts";
import { predictionOf } from "./prediction.resolver.ts";

@Resolver(() => ExperimentType)
export class ExperimentResolver {
  @Query(() => [ExperimentType], { description: "Experiments run by `vcm experiment`, newest first, optionally of one dataset (by name)." })
  async experiments(@Ctx() context: GraphQLContext, @Arg("dataset", () => String, { nullable: true }) dataset?: string | null): Promise<Experiment[]> {
    // An omitted argument arrives as undefined, a null one as null: both mean every dataset.
    const datasetId = dataset == null ? null : (await requireDataset(context, { name: dataset })).id;
    return context.catalog.experiments(datasetId);
  }

  @Query(() => ExperimentType, { description: "One experiment. NOT_FOUND when absent." })
  async experiment(@Ctx() context: GraphQLContext, @Arg("id", () => ID) id: string): Promise<Experiment> {
    const experiment = await context.catalog.experimentById(parseId(id, "Experiment"));
    if (experiment === null) throw noSuchExperiment(id);
    return experiment;
  }

  @Mutation(() => ExperimentType, {
    description:
      "Runs the experiment (as `vcm experiment` does) as a job of this server's job queue, in a worker process of its own, and returns the experiment at once, RUNNING, or QUEUED while this server runs another (one at a time, as training jobs); poll experiment(id) for runsDone and, once FINISHED, the result tables. Its folder (report.md, CSVs, figures) is under the server's VCM_EXPERIMENTS_DIR, named after the arguments: the same arguments started again resume it. Needs an admin credential (`Authorization: Bearer <key>` with an admin API key, or VCM_ADMIN_TOKEN) once the server has one; FORBIDDEN for an analyst key. BAD_USER_INPUT for arguments it could not run or too many runs, NOT_FOUND for an unknown dataset, CONFLICT while the same experiment is queued or runs.",
  })
  async startExperiment(@Ctx() context: GraphQLContext, @Arg("input", () => StartExperimentInput) input: StartExperimentInput): Promise<Experiment> {
    const axes: Array<[string, number[]]> = [
      ...(input.grid ?? []).map((axis): [string, number[]] => [axis.name, axis.values]),
      ...(input.gridLatentDim == null ? [] : [["latentDim", input.gridLatentDim] as [string, number[]]]),
      ...(input.gridBeta == null ? [] : [["beta", input.gridBeta] as [string, number[]]]),
    ];
    const named = new Set(axes.map(([name]) => name));
    if (named.size < axes.length) throw new UserError(ErrorCode.BAD_USER_INPUT, "The grid names a setting twice (gridLatentDim and gridBeta are axes latentDim and beta); list each setting's values once.");
    return predictionOf(context).services.experiments.start({
      dataset: input.dataset,
      models: input.models,
      seeds: input.seeds,
      epochs: input.epochs ?? undefined,
      config: { ...(input.hyperParameters ?? {}), ...(input.baselineParameters ?? {}) },
      grid: axes.length === 0 ? undefined : Object.fromEntries(axes),
      tune: input.tune ?? undefined,
    });
  }

  @Mutation(() => ExperimentType, {
    description:
      "Cancels an experiment: a QUEUED one at once, a RUNNING one on this server before the answer (its current run's model is failed, so deleteModel can remove it), one running on another server at that server's next heartbeat (cancelRequested until then). Admin token as for startExperiment. NOT_FOUND for an unknown id, CONFLICT for one that has ended.",
  })
  async cancelExperiment(@Ctx() context: GraphQLContext, @Arg("id", () => ID) id: string): Promise<Experiment> {
    return predictionOf(context).services.experiments.cancel(parseId(id, "Experiment"));
  }

  @Subscription(() => ExperimentType, {
    subscribe: async ({ args, context }) => {
      const id = parseId(args.id as string, "Experiment");
      const { services } = predictionOf(context as GraphQLContext);
      // An unknown experiment is answered (NOT_FOUND) before any stream is opened.
      await services.experiments.get(id);
      return services.experimentUpdates.watch(id);
    },
    description: `An experiment's state now and after its changes (start, each run done, a cancel asked, the end), at most one message per ${JOB_UPDATE_WINDOW_MS} ms, as trainingJobUpdated: changes closer together are sent as one, the latest. The stream ends once the experiment is FINISHED, FAILED or CANCELLED. Served over WebSocket (graphql-ws protocol) at the GraphQL path; polling experiment(id) gives the same data. NOT_FOUND for an unknown experiment.`,
  })
  experimentUpdated(@Root() experiment: Experiment, @Arg("id", () => ID) _id: string): Experiment {
    return experiment;
  }

  @FieldResolver()
  results(@Root() experiment: Experiment): Record<string, unknown> | null {
    return experimentTables(experiment.results);
  }

  @FieldResolver(() => [ExperimentFigureType], {
    description:
      "The report's figures as data, each with the Vega-Lite spec (data inline) the report rendered into its folder: the same spec, kept with the results when the report was written. Empty until the experiment has results, and for one finished before figures were kept with the results (its folder still holds them).",
  })
  figures(@Root() experiment: Experiment): ReadonlyArray<ReportFigure> {
    return experimentFigures(experiment.results);
  }

  @FieldResolver(() => DatasetType)
  dataset(@Root() experiment: Experiment, @Ctx() context: GraphQLContext): Promise<Dataset> {
    return requireLoaded(context.loaders.datasetById.load(experiment.datasetId), `dataset ${experiment.datasetId}`);
  }
}
