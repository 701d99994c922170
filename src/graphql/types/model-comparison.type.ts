import { Field, Float, Int, ObjectType } from "type-graphql";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import { COMPARED_METRICS } from "../../services/model-comparison.ts";
import { TrainedModelType } from "./trained-model.type.ts";

/** One metric of compareModels. */
@ObjectType("ModelMetricComparison", { description: "One test metric of two models over the same test users, with the paper's paired t-test of model − compared (engine/stats.ts pairedTTest, as aliasReport and vcm compare use)." })
export class ModelMetricComparisonType {
  @Field(() => String, { description: "The metric's name, such as \"ndcg@10\"." })
  metric: string;

  @Field(() => Float, { description: "Mean of the metric under model over the test users." })
  meanModel: number;

  @Field(() => Float, { description: "Mean of the metric under compared over the same users." })
  meanCompared: number;

  @Field(() => Float, { description: "meanModel − meanCompared." })
  difference: number;

  @Field(() => Float, { description: "Student's t of the paired differences model − compared (the largest float, with its sign, stands for ±∞: all differences equal and non-zero; 0 when all are zero)." })
  statistic: number;

  @Field(() => Float, { description: "Two-sided p-value of the hypothesis that the mean paired difference is zero." })
  pValue: number;

  @Field(() => Int, { description: "Degrees of freedom: users − 1." })
  df: number;
}

/** What compareModels answers (its model fields hold the TrainedModel entities). */
@ObjectType("ModelComparison", { description: "Two READY models of one dataset on the same test users: each test metric's mean under both and the paired t-test between them." })
export class ModelComparisonType {
  @Field(() => TrainedModelType, { description: "The model (modelId)." })
  model: TrainedModel;

  @Field(() => TrainedModelType, { description: "The model it is compared with (compareTo)." })
  compared: TrainedModel;

  @Field(() => Int, { description: "Test users counted: users with at least one test click, the same under both models." })
  users: number;

  @Field(() => [ModelMetricComparisonType], { description: `One entry per metric, in the order ${COMPARED_METRICS.map((m) => m.metric).join(", ")}.` })
  metrics: ModelMetricComparisonType[];
}
