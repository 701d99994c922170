import { GraphQLDateTimeISO, GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { BASELINE_FIELDS, baselineFieldText, boundsText } from "../../engine/config.ts";
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

/** The optimisers of the baselines' networks (engine/config.ts BASELINE_OPTIMIZERS). */
export enum BaselineOptimizerEnum {
  ADAM = "adam",
  RMSPROP = "rmsprop",
}
registerEnumType(BaselineOptimizerEnum, {
  name: "BaselineOptimizer",
  description: "ADAM: Adam (CDL's and CVAE's code; the default for CDL and CVAE). RMSPROP: RMSprop without momentum, ρ = 0.9 (DeepCoNN's paper; the default for DEEPCONN, at learning rate 0.002).",
});

/** Progress of a job, from the epochs reported so far. */
@ObjectType("TrainingProgress", { description: "How far a training job has come." })
export class TrainingProgressType {
  @Field(() => Int, { description: "Epochs finished." })
  epoch: number;

  @Field(() => Int, { description: "Epochs the job runs (vcm-od: both phases)." })
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

/** Hyper-parameters a job may set; everything omitted keeps the engine's default (the paper's settings). */
@InputType("HyperParametersInput", { description: "Training hyper-parameters; omitted fields keep the paper's defaults." })
export class HyperParametersInput {
  @Field(() => Int, { nullable: true, description: `Latent size K, ${boundsText("latentDim")} (default 100).` })
  latentDim?: number;

  @Field(() => Int, { nullable: true, description: `VAEx hidden width, ${boundsText("hiddenX")} (default 600).` })
  hiddenX?: number;

  @Field(() => Int, { nullable: true, description: `VAEy encoder hidden width, ${boundsText("hiddenY")} (default 500).` })
  hiddenY?: number;

  @Field(() => Float, { nullable: true, description: "Input dropout of VAEx, 0 ≤ p < 1 (default 0.5)." })
  dropout?: number;

  @Field(() => Float, { nullable: true, description: `Final KL weight β, ${boundsText("beta")} (default 0.4).` })
  beta?: number;

  @Field(() => Int, { nullable: true, description: `Steps over which β rises from 0, ${boundsText("annealSteps")} (default 40,000).` })
  annealSteps?: number;

  @Field(() => Int, { nullable: true, description: `Epochs, ${boundsText("epochs")} (default 200).` })
  epochs?: number;

  @Field(() => Int, { nullable: true, description: `Users per step, ${boundsText("batchSize")} (default 128).` })
  batchSize?: number;

  @Field(() => Float, { nullable: true, description: `Step size of the optimiser (Adam; the baselines: baselineParameters.baselineOptimizer), ${boundsText("learningRate")} (default 0.001; DEEPCONN: 0.002, its paper's).` })
  learningRate?: number;

  @Field(() => Int, { nullable: true, description: `Seed of every random choice, ${boundsText("seed")} (default 1).` })
  seed?: number;

  @Field(() => Int, { nullable: true, description: `Stop after this many epochs without a better validation NDCG@100, ${boundsText("patience")} (default: never).` })
  patience?: number;
}

/** The paper baselines' hyper-parameters (engine/config.ts BASELINE_FIELDS); VCM ignores them. */
@InputType("BaselineParametersInput", { description: "Hyper-parameters of the CDL, CVAE and DeepCoNN baselines (README, Baselines); the VCM variants ignore them. Unset fields take their defaults." })
export class BaselineParametersInput {
  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.baselineLatentDim}; ${baselineFieldText("baselineLatentDim")}.` })
  baselineLatentDim?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.confidenceObserved}; ${baselineFieldText("confidenceObserved")}.` })
  confidenceObserved?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.confidenceUnobserved}; ${baselineFieldText("confidenceUnobserved")}.` })
  confidenceUnobserved?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.textOffsetReg}; ${baselineFieldText("textOffsetReg")}.` })
  textOffsetReg?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.itemFactorReg}; ${baselineFieldText("itemFactorReg")}.` })
  itemFactorReg?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.weightDecay}; ${baselineFieldText("weightDecay")}.` })
  weightDecay?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.textPretrainEpochs}; ${baselineFieldText("textPretrainEpochs")}.` })
  textPretrainEpochs?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.sdaeHidden}; ${baselineFieldText("sdaeHidden")}.` })
  sdaeHidden?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.sdaeCorruption}; ${baselineFieldText("sdaeCorruption")}.` })
  sdaeCorruption?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.sdaeReconWeight}; ${baselineFieldText("sdaeReconWeight")}.` })
  sdaeReconWeight?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.cvaeHiddenOuter}; ${baselineFieldText("cvaeHiddenOuter")}.` })
  cvaeHiddenOuter?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.cvaeHiddenInner}; ${baselineFieldText("cvaeHiddenInner")}.` })
  cvaeHiddenInner?: number;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.cvaeTextWeight}; ${baselineFieldText("cvaeTextWeight")}.` })
  cvaeTextWeight?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.deepconnEmbedding}; ${baselineFieldText("deepconnEmbedding")}.` })
  deepconnEmbedding?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.deepconnFilters}; ${baselineFieldText("deepconnFilters")}.` })
  deepconnFilters?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.deepconnWindow}; ${baselineFieldText("deepconnWindow")}.` })
  deepconnWindow?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.deepconnFmFactors}; ${baselineFieldText("deepconnFmFactors")}.` })
  deepconnFmFactors?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.deepconnTokens}; ${baselineFieldText("deepconnTokens")}.` })
  deepconnTokens?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.negatives}; ${baselineFieldText("negatives")}.` })
  negatives?: number;

  @Field(() => Int, { nullable: true, description: `${BASELINE_FIELDS.deepconnNegativePool}; ${baselineFieldText("deepconnNegativePool")}.` })
  deepconnNegativePool?: number;

  @Field(() => BaselineOptimizerEnum, { nullable: true, description: `${BASELINE_FIELDS.baselineOptimizer}; ${baselineFieldText("baselineOptimizer")}.` })
  baselineOptimizer?: BaselineOptimizerEnum;

  @Field(() => Float, { nullable: true, description: `${BASELINE_FIELDS.deepconnDropout}; ${baselineFieldText("deepconnDropout")}.` })
  deepconnDropout?: number;

  @Field(() => Boolean, { nullable: true, description: `${BASELINE_FIELDS.tiedWeights}; ${baselineFieldText("tiedWeights")}.` })
  tiedWeights?: boolean;
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
}
