import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import type { TrainingJob, TrainingJobStatus } from "../../db/entities/training-job.entity.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { JOB_UPDATE_WINDOW_MS, type JobUpdate } from "../../services/job-updates.ts";
import type { GraphQLContext } from "../context.ts";
import { MAX_PAGE_SIZE } from "../limits.ts";
import { DatasetType } from "../types/dataset.type.ts";
import { TrainedModelType } from "../types/trained-model.type.ts";
import {
  StartTrainingInput,
  TrainingJobStatusEnum,
  TrainingJobType,
  TrainingProgressType,
} from "../types/training-job.type.ts";
import { parseId, requireDataset, requireLoaded } from "./lookup.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** Training through the API: start, poll, cancel; and deleting models. Mutations need the admin token. */
@Resolver(() => TrainingJobType)
export class TrainingJobResolver {
  @Mutation(() => TrainingJobType, {
    description:
      "Starts training a model and returns at once with the job (QUEUED, or RUNNING when no other job runs). Training runs in a separate process, one job at a time; poll trainingJob(id) for progress. Needs an admin credential (`Authorization: Bearer <key>` with an admin API key, or VCM_ADMIN_TOKEN) once the server has one; FORBIDDEN for an analyst key. BAD_USER_INPUT for a hyper-parameter training could not use; NOT_FOUND for an unknown dataset. With fromModel, continues that model (a warm start; see the input field).",
  })
  async startTraining(
    @Ctx() context: GraphQLContext,
    @Arg("input", () => StartTrainingInput) input: StartTrainingInput,
  ): Promise<TrainingJob> {
    const dataset = await requireDataset(context, { name: input.dataset });
    const hyperParameters = Object.fromEntries(
      Object.entries({ ...(input.hyperParameters ?? {}), ...(input.baselineParameters ?? {}) }).filter(([, value]) => value !== undefined && value !== null),
    );
    return predictionOf(context).services.jobs.start({
      dataset,
      variant: input.variant,
      hyperParameters,
      fromModel: input.fromModel === undefined || input.fromModel === null ? undefined : parseId(input.fromModel, "Model"),
    });
  }

  @Mutation(() => TrainingJobType, {
    description:
      "Cancels a QUEUED or RUNNING job (a running one stops after its current step; no model is kept) and returns it, CANCELLED. A job that another server on the same database runs comes back RUNNING with cancelRequested: that server stops it at its next heartbeat. CONFLICT for a job that has already ended.",
  })
  async cancelTrainingJob(@Ctx() context: GraphQLContext, @Arg("id", () => ID) id: string): Promise<TrainingJob> {
    return predictionOf(context).services.jobs.cancel(parseId(id, "Training job"));
  }

  @Mutation(() => ID, {
    description:
      "Deletes a trained model (its row, checkpoint and cached copies) and returns its id. CONFLICT while it is still training: cancel its job first.",
  })
  async deleteModel(@Ctx() context: GraphQLContext, @Arg("id", () => ID) id: string): Promise<number> {
    const modelId = parseId(id, "Model");
    await predictionOf(context).services.removeModel(modelId);
    return modelId;
  }

  @Query(() => TrainingJobType, { description: "One training job; poll it for progress. NOT_FOUND when absent." })
  async trainingJob(@Ctx() context: GraphQLContext, @Arg("id", () => ID) id: string): Promise<TrainingJob> {
    return predictionOf(context).services.jobs.get(parseId(id, "Training job"));
  }

  @Query(() => [TrainingJobType], {
    complexity: ({ args, childComplexity }) => (typeof args.first === "number" ? args.first : 20) * Math.max(1, childComplexity),
    description: "Training jobs, newest first, optionally of one status.",
  })
  async trainingJobs(
    @Ctx() context: GraphQLContext,
    @Arg("status", () => TrainingJobStatusEnum, { nullable: true }) status: TrainingJobStatusEnum | null,
    @Arg("first", () => Int, { defaultValue: 20, description: `How many, 1 to ${MAX_PAGE_SIZE}.` }) first: number,
  ): Promise<TrainingJob[]> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `first must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${first}.`);
    }
    return predictionOf(context).services.jobs.list({ status: (status ?? undefined) as TrainingJobStatus | undefined, limit: first });
  }

  @Subscription(() => TrainingJobType, {
    subscribe: async ({ args, context }) => {
      const id = parseId(args.id as string, "Training job");
      const { services } = predictionOf(context as GraphQLContext);
      // An unknown job is answered (NOT_FOUND) before any stream is opened.
      await services.jobs.get(id);
      return services.jobUpdates.watch(id);
    },
    description: `A training job's state now and after its changes (start, epochs, the end), at most one message per ${JOB_UPDATE_WINDOW_MS} ms: changes closer together are sent as one, the latest. The stream ends once the job has SUCCEEDED, FAILED or been CANCELLED. Served over WebSocket (graphql-ws protocol) at the GraphQL path; polling trainingJob(id) gives the same data. NOT_FOUND for an unknown job.`,
  })
  trainingJobUpdated(@Root() update: JobUpdate, @Ctx() context: GraphQLContext, @Arg("id", () => ID) _id: string): TrainingJob {
    // The model row was read once for every subscriber of this change: this subscriber's loader answers from it.
    const modelId = update.model?.id ?? update.job.modelId;
    if (modelId !== null) context.loaders.modelById.clear(modelId).prime(modelId, update.model);
    return update.job;
  }

  @FieldResolver(() => DatasetType)
  dataset(@Root() job: TrainingJob, @Ctx() context: GraphQLContext): Promise<Dataset> {
    return requireLoaded(context.loaders.datasetById.load(job.datasetId), `dataset ${job.datasetId} of job ${job.id}`);
  }

  @FieldResolver(() => TrainingProgressType)
  progress(@Root() job: TrainingJob): TrainingProgressType {
    return {
      epoch: job.epoch,
      totalEpochs: job.totalEpochs,
      lastEpoch: job.lastEpoch,
      bestValidationNdcg100: job.bestValNdcg100,
      etaSeconds: job.etaSeconds,
    };
  }

  @FieldResolver(() => TrainedModelType, {
    nullable: true,
    description:
      "The model the job trains or saved: its row exists from the first epoch (status TRAINING), is READY once the job SUCCEEDED, FAILED with the reason when the job failed, and null for a cancelled job or once the model was deleted.",
  })
  async model(@Root() job: TrainingJob, @Ctx() context: GraphQLContext): Promise<TrainedModel | null> {
    return job.modelId === null ? null : context.loaders.modelById.load(job.modelId);
  }
}
