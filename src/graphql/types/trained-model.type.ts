import { GraphQLDateTimeISO, GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, Int, ObjectType, registerEnumType } from "type-graphql";

/** Life cycle of a trained model, as GraphQL names it (values are the stored statuses). */
export enum ModelStatusEnum {
  TRAINING = "training",
  READY = "ready",
  FAILED = "failed",
}
registerEnumType(ModelStatusEnum, {
  name: "ModelStatus",
  description: "TRAINING: the row exists, weights not yet saved. READY: saved and evaluated. FAILED: see error.",
});

/** How a model scores items, as GraphQL names it (values are the engine's PredictionMode). */
export enum PredictionModeEnum {
  VCM = "vcm",
  VCM_CD = "vcm-cd",
}
registerEnumType(PredictionModeEnum, {
  name: "PredictionMode",
  description: "VCM: from the user's clicks, z = μx(x_u). VCM_CD (review2click): from the user's words, r = μy(y_u).",
});

/** NDCG and Recall at the paper's cut-offs, averaged over users with held-out items. */
@ObjectType("RankingMetrics", { description: "NDCG@R and Recall@R means over users with held-out test items." })
export class RankingMetricsType {
  @Field(() => PredictionModeEnum)
  mode: PredictionModeEnum;

  @Field(() => Float, { nullable: true })
  ndcgAt10: number | null;

  @Field(() => Float, { nullable: true })
  ndcgAt20: number | null;

  @Field(() => Float, { nullable: true })
  ndcgAt50: number | null;

  @Field(() => Float, { nullable: true })
  ndcgAt100: number | null;

  @Field(() => Float, { nullable: true })
  recallAt10: number | null;

  @Field(() => Float, { nullable: true })
  recallAt20: number | null;

  @Field(() => Float, { nullable: true })
  recallAt50: number | null;

  @Field(() => Float, { nullable: true })
  recallAt100: number | null;
}

/** One epoch of the training curve; values are the engine's EpochRecord (src/engine/types.ts). */
@ObjectType("EpochRecord", { description: "One training epoch: loss terms (means per user), β, validation NDCG@100." })
export class EpochRecordType {
  @Field(() => Int, { description: "1-based epoch." })
  epoch: number;

  @Field(() => Float, { description: "β at the end of the epoch: min(β, step / annealSteps)." })
  beta: number;

  @Field(() => Float, { description: "−Lx: multinomial negative log-likelihood of the clicks." })
  reconX: number;

  @Field(() => Float, { description: "−Ly: multinomial negative log-likelihood of the words." })
  reconY: number;

  @Field(() => Float, { description: "KL(qx ‖ N(0, I))." })
  klPriorX: number;

  @Field(() => Float, { description: "KL(qy ‖ N(0, I))." })
  klPriorY: number;

  @Field(() => Float, { description: "KL(qx ‖ qy) (‖μx − μy‖² for vcm-nv; 0 for vcm-se)." })
  klCrossX: number;

  @Field(() => Float, { description: "KL(qy ‖ qx) (‖μx − μy‖² for vcm-nv; 0 for vcm-se)." })
  klCrossY: number;

  @Field(() => Float, { description: "Mean NDCG@100 on the validation split." })
  valNdcg100: number;

  @Field(() => Float, { description: "Wall-clock seconds of the epoch (training plus validation)." })
  seconds: number;
}

/** A trained model; resolvers return the TrainedModel entity (src/db/entities/trained-model.entity.ts). */
@ObjectType("TrainedModel", { description: "A trained model: configuration, training curve and test metrics." })
export class TrainedModelType {
  @Field(() => ID)
  id: number;

  @Field(() => String, { description: "Engine variant: vcm, vcm-se, vcm-od, vcm-nv or popularity." })
  variant: string;

  @Field(() => GraphQLJSONObject, { description: "The resolved training configuration (engine VcmConfig)." })
  config: Record<string, unknown>;

  @Field(() => String, { description: "Engine backend that trained it: webgpu, wasm, cpu, tensorflow-gpu or tensorflow." })
  backend: string;

  @Field(() => String, {
    nullable: true,
    description: "What ran the kernels: the GPU adapter's vendor and description on webgpu, whether OpenBLAS did the matMuls on wasm.",
  })
  device: string | null;

  @Field(() => ModelStatusEnum)
  status: string;

  @Field(() => String, { nullable: true, description: "Why training failed (status FAILED only)." })
  error: string | null;

  @Field(() => Int, { description: "1-based epoch whose weights were kept (best validation NDCG@100); 0 for popularity." })
  bestEpoch: number;

  @Field(() => Int, {
    description:
      "The dataset's version (Dataset.version) the model was trained on. It answers from each user's history as it is now, but reads and recommends only the items it was trained with (see itemsAddedSince).",
  })
  datasetVersion: number;

  @Field(() => Float, { nullable: true, description: "Mean seconds per epoch (training plus validation)." })
  secondsPerEpoch: number | null;

  @Field(() => ID, { nullable: true, description: "The model this one was warm-started from (startTraining's fromModel, `vcm train --from-model`); null when trained from scratch. The id stays after that model is deleted." })
  fromModelId: number | null;

  @Field(() => GraphQLDateTimeISO)
  createdAt: Date;
}
