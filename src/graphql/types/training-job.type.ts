import { GraphQLDateTimeISO, GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { BaselineParametersInput, HyperParametersInput } from "./config-inputs.ts";
import { WARM_START_RULES } from "../../services/training.ts";
import { EpochRecordType } from "./trained-model.type.ts";

/** Life cycle of a training job, as GraphQL names it (values are the stored statuses). */
export enum TrainingJobStatusEnum {
  QUEUED = "queued",
  RUNNING = "running",
  SUCCEEDED = "succeeded",
  FAILED = "failed",
  CANCELLED = "cancelled",
}
registerEnumType(TrainingJobStatusEnum, {
  name: "TrainingJobStatus",
  description:
    "QUEUED: waiting for the job before it (one trains at a time). RUNNING: training in a separate process. SUCCEEDED: the model is saved (see model). FAILED: see error (also set for jobs that were running when the server restarted). CANCELLED: stopped by cancelTrainingJob; no model kept.",
});

/** Model variants that can be trained through the API. */
export enum VariantEnum {
  VCM = "vcm",
  VCM_SE = "vcm-se",
  VCM_OD = "vcm-od",
  VCM_NV = "vcm-nv",
  POPULARITY = "popularity",
  CDL = "cdl",
  CVAE = "cvae",
  DEEPCONN = "deepconn",
}
registerEnumType(VariantEnum, {
  name: "Variant",
  description: "VCM: the joint model. VCM_SE: two independent VAEs. VCM_OD: VAEy first, frozen, then VAEx. VCM_NV: ‖μx − μy‖² instead of the cross KLs. POPULARITY: item popularity, the floor. CDL, CVAE, DEEPCONN: the paper's hybrid baselines (Collaborative Deep Learning, Collaborative VAE, DeepCoNN) with the users' merged reviews as their text; they rank from clicks and from text alone (source REVIEWS, recommendForText) but decode no words (no top words, explanations, highlights or capacity).",
});

/** Progress of a job, from the epochs reported so far. */
@ObjectType("TrainingProgress", { description: "How far a training job has come." })
export class TrainingProgressType {
  @Field(() => Int, { description: "Epochs finished." })
  epoch: number;

  @Field(() => Int, { description: "Epochs the job runs (vcm-od: its second phase only, VAEx with VAEy frozen)." })
  totalEpochs: number;

  @Field(() => EpochRecordType, { nullable: true, description: "The last finished epoch: loss terms, β, validation NDCG@100, seconds." })
  lastEpoch: EpochRecordType | null;

  @Field(() => Float, { nullable: true, description: "Best validation NDCG@100 so far." })
  bestValidationNdcg100: number | null;

  @Field(() => Float, { nullable: true, description: "Estimated seconds until the job ends (mean epoch time × epochs left); null before the first epoch." })
  etaSeconds: number | null;
}

/** A training job; resolvers return the TrainingJob entity as its value. */
@ObjectType("TrainingJob", { description: "A training run started through the API; poll it with trainingJob(id)." })
export class TrainingJobType {
  @Field(() => ID)
  id: number;

  @Field(() => String, { description: "Engine variant being trained." })
  variant: string;

  @Field(() => GraphQLJSONObject, { description: "The resolved configuration the job trains with (requested hyper-parameters over the defaults)." })
  config: Record<string, unknown>;

  @Field(() => ID, { nullable: true, description: "The model this job continues from (startTraining's fromModel, a warm start); null for a run from scratch. The id stays after that model is deleted." })
  fromModelId: number | null;

  @Field(() => TrainingJobStatusEnum)
  status: string;

  @Field(() => String, { nullable: true, description: "Why the job failed or was cancelled, as a sentence." })
  error: string | null;

  @Field(() => Boolean, {
    description:
      "True once cancelTraining was asked on a server that does not run this job: the server that runs it stops it at its next heartbeat (within a third of VCM_JOB_LEASE_SECONDS), and the status becomes CANCELLED.",
  })
  cancelRequested: boolean;

  @Field(() => GraphQLDateTimeISO)
  createdAt: Date;

  @Field(() => GraphQLDateTimeISO, { nullable: true })
  startedAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true })
  finishedAt: Date | null;
}

/** What startTraining needs. */
@InputType("StartTrainingInput")
export class StartTrainingInput {
  @Field(() => String, { description: "Name of the dataset to train on." })
  dataset: string;

  @Field(() => VariantEnum)
  variant: VariantEnum;

  @Field(() => HyperParametersInput, { nullable: true })
  hyperParameters?: HyperParametersInput;

  @Field(() => BaselineParametersInput, { nullable: true, description: "For variant CDL, CVAE or DEEPCONN: its own hyper-parameters." })
  baselineParameters?: BaselineParametersInput;

  @Field(() => ID, {
    nullable: true,
    description:
      `Warm start: the id of a READY model of this dataset to continue from, on the dataset as it is now. ${WARM_START_RULES} NOT_FOUND for an unknown model; BAD_USER_INPUT for a model of another dataset, of another variant or shape (the message names the field); MODEL_NOT_READY for one without saved weights (still training, or failed).`,
  })
  fromModel?: string | null;
}
