import { Field, Float, ID, InputType, Int, ObjectType } from "type-graphql";
import { MAX_ALIAS_NAME_LENGTH, SERVING_LOG_DAYS } from "../../services/model-aliases.ts";

/** The candidate of an A/B split. */
@InputType("AliasCandidateInput", { description: "A second model that a stable share of the dataset's users gets through the alias." })
export class AliasCandidateInput {
  @Field(() => ID, { description: "A READY model of the same dataset, other than the alias's model." })
  modelId: string;

  @Field(() => Float, { description: "Share of users, 0 to 1, that the candidate serves: those whose SHA-256 split point of (dataset, alias, user's external id) is under it." })
  share: number;
}

/** A model alias; its value is the service's ModelAliasSummary. */
@ObjectType("ModelAlias", { description: `A name of a dataset (1 to ${MAX_ALIAS_NAME_LENGTH} letters, digits, ".", "-" or "_", starting with a letter) that serves a model, and optionally a candidate for a share of the users.` })
export class ModelAliasType {
  @Field(() => String)
  dataset: string;

  @Field(() => String)
  alias: string;

  @Field(() => ID, { description: "The model every user outside the candidate's share gets." })
  modelId: number;

  @Field(() => ID, { nullable: true, description: "The candidate model, or null without an A/B split." })
  candidateModelId: number | null;

  @Field(() => Float, { description: "Share of users the candidate serves (0 without one)." })
  candidateShare: number;

  @Field(() => Boolean, { description: `Whether the recommendations served through the alias are logged (kept ${SERVING_LOG_DAYS} days) for aliasReport's hit rate.` })
  logServing: boolean;

  @Field(() => String, { description: "When it was last set, ISO 8601." })
  updated: string;
}

/** One arm of an alias report. */
@ObjectType("AliasArm", { description: "One model of an alias: its offline test figures and, with serving logged, its online hit rate." })
export class AliasArmType {
  @Field(() => String, { description: '"model" or "candidate".' })
  arm: string;

  @Field(() => ID)
  modelId: number;

  @Field(() => Float, { description: "Share of users this arm serves." })
  share: number;

  @Field(() => Int, { description: "Test users with held-out clicks (the means are over them; the same users for both arms)." })
  testUsers: number;

  @Field(() => Float, { nullable: true, description: "Mean NDCG@10 on the test split." })
  ndcg10: number | null;

  @Field(() => Float, { nullable: true, description: "Mean Recall@20 on the test split." })
  recall20: number | null;

  @Field(() => Int, { description: "Distinct (user, item) pairs this arm served through the alias, in the serving log." })
  served: number;

  @Field(() => Int, { description: "Of those, the pairs the user clicked after they were first served (clicks appended since)." })
  hits: number;

  @Field(() => Float, { nullable: true, description: "hits / served: the share of served recommendations the user later clicked; null when nothing was logged." })
  hitRate: number | null;
}

/** The paired t-test of the candidate against the model. */
@ObjectType("AliasComparison", { description: "The paper's paired t-test of candidate − model over the test users of both (engine/stats.ts pairedTTest)." })
export class AliasComparisonType {
  @Field(() => String, { description: '"ndcg@10" or "recall@20".' })
  metric: string;

  @Field(() => Int)
  users: number;

  @Field(() => Float)
  meanModel: number;

  @Field(() => Float)
  meanCandidate: number;

  @Field(() => Float, { description: "meanCandidate − meanModel." })
  difference: number;

  @Field(() => Float, { description: "Student's t of the paired differences (the largest float, with its sign, stands for ±∞: all differences equal and non-zero)." })
  statistic: number;

  @Field(() => Int)
  df: number;

  @Field(() => Float, { description: "Two-sided p-value." })
  pValue: number;
}

/** What aliasReport answers. */
@ObjectType("AliasReport", { description: "Both arms of an alias on the same test users, the paired t-tests between them, and the online hit rates." })
export class AliasReportType {
  @Field(() => ModelAliasType)
  alias: ModelAliasType;

  @Field(() => [AliasArmType], { description: "The model, then the candidate when there is one." })
  arms: AliasArmType[];

  @Field(() => [AliasComparisonType], { description: "NDCG@10 and Recall@20 compared; empty without a candidate." })
  comparisons: AliasComparisonType[];

  @Field(() => Int, { description: "How many days the serving log keeps served items." })
  servingLogDays: number;
}
