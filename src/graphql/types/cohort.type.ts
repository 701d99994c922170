import { Field, Float, ID, Int, ObjectType } from "type-graphql";

/** One model's figures in one activity cohort. */
@ObjectType("CohortFigures", { description: "One model's figures over the test users of a cohort." })
export class CohortFiguresType {
  @Field(() => Float, { nullable: true, description: "Mean capacity ĉu = KL(q(z|x_u) ‖ N(0, I)) over the cohort; null when empty or for a popularity model." })
  meanCapacity: number | null;

  @Field(() => Float, { nullable: true, description: "Mean NDCG@10 on the test split (VCM ranking from training clicks, training clicks excluded); null when empty." })
  ndcg10: number | null;

  @Field(() => Float, { nullable: true, description: "Mean Recall@20 on the test split; null when empty." })
  recall20: number | null;
}

/** Relative change of each figure against the compared model. */
@ObjectType("CohortChange", { description: "(this model − compared model) / compared model, per figure; null when undefined (missing or zero baseline)." })
export class CohortChangeType {
  @Field(() => Float, { nullable: true })
  meanCapacity: number | null;

  @Field(() => Float, { nullable: true })
  ndcg10: number | null;

  @Field(() => Float, { nullable: true })
  recall20: number | null;
}

/** One activity cohort. */
@ObjectType("Cohort", { description: "Test users whose number of TRAINING clicks lies in [minClicks, maxClicks]." })
export class CohortType {
  @Field(() => String, { description: "The activity range, e.g. \"5–19\" or \"≥ 80\" (training clicks)." })
  label: string;

  @Field(() => Int, { description: "Smallest number of training clicks in the cohort." })
  minClicks: number;

  @Field(() => Int, { nullable: true, description: "Largest number of training clicks in the cohort; null for the last, open-ended cohort." })
  maxClicks: number | null;

  @Field(() => Int, { description: "Test users (users with at least one test click) in the cohort." })
  userCount: number;

  @Field(() => CohortFiguresType, { description: "This model's figures." })
  figures: CohortFiguresType;

  @Field(() => CohortFiguresType, { nullable: true, description: "The compared model's figures over the same users (with compareTo)." })
  compared: CohortFiguresType | null;

  @Field(() => CohortChangeType, { nullable: true, description: "Relative change of this model against the compared one (with compareTo)." })
  change: CohortChangeType | null;
}

/** Cohorts of a model, as in the paper's Table 3. */
@ObjectType("CohortAnalysis", {
  description:
    "Test users grouped by activity level (their number of training clicks) as in the paper's Table 3, with capacity and ranking quality per cohort.",
})
export class CohortAnalysisType {
  @Field(() => ID)
  modelId: number;

  @Field(() => ID, { nullable: true })
  compareTo: number | null;

  @Field(() => [Int], { description: "The boundaries used: cohort j holds users with boundaries[j−1] ≤ training clicks < boundaries[j]." })
  boundaries: number[];

  @Field(() => Int, { description: "Test users over all cohorts." })
  testUsers: number;

  @Field(() => [CohortType])
  cohorts: CohortType[];
}
