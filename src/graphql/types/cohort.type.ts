import { Field, Float, ID, Int, ObjectType, registerEnumType } from "type-graphql";

/** How test users are cut into cohorts. */
export enum CohortGroupingEnum {
  BOUNDARIES = "BOUNDARIES",
  EQUAL_USERS = "EQUAL_USERS",
  EQUAL_INTERACTIONS = "EQUAL_INTERACTIONS",
}

registerEnumType(CohortGroupingEnum, {
  name: "CohortGrouping",
  description: "How test users are cut into activity cohorts (docs/model.md, Cohorts).",
  valuesConfig: {
    BOUNDARIES: { description: "At the given boundaries of training clicks (the paper's Table 3)." },
    EQUAL_USERS: { description: "Into `groups` quantile groups of about equal numbers of test users, by training clicks; users tied at a cut stay together, so fewer groups can come back." },
    EQUAL_INTERACTIONS: { description: "Into `groups` quantile groups of about equal total training clicks (the sparsity groups of NGCF and LightGCN); users tied at a cut stay together." },
  },
});

/** Beyond-accuracy figures of a set of users' top-10 lists. */
@ObjectType("BeyondAccuracy", { description: "Beyond-accuracy figures of the top-10 recommendations (VCM ranking from training clicks, training clicks excluded) of a set of test users; definitions in docs/model.md. Null when there are no users." })
export class BeyondAccuracyType {
  @Field(() => Float, { nullable: true, description: "Catalogue coverage at 10: distinct items in the users' top 10 / the model's items." })
  coverage: number | null;

  @Field(() => Float, { nullable: true, description: "Average recommendation popularity (ARP): mean over users of the mean training clicks of their top-10 items." })
  arp: number | null;

  @Field(() => Float, { nullable: true, description: "Average percentage of long-tail items (APLT), as a share: mean over users of the share of their top 10 in the tail item cohort." })
  aplt: number | null;

  @Field(() => Float, { nullable: true, description: "Novelty: mean over users of the mean self-information −log2 p(i) of their top 10, p(i) = the item's training users / all training users (bits)." })
  novelty: number | null;
}

/** One item popularity cohort. */
@ObjectType("ItemCohort", { description: "Items grouped by popularity: the head holds the most clicked items until they reach headShare of all training clicks, the tail the least clicked items within tailShare, the torso the rest." })
export class ItemCohortType {
  @Field(() => String, { description: "head, torso or tail." })
  name: string;

  @Field(() => Int, { description: "Items in the cohort." })
  itemCount: number;

  @Field(() => Float, { description: "Share of all training clicks on the cohort's items." })
  clickShare: number;

  @Field(() => Int, { description: "Test clicks of the test users on the cohort's items." })
  testClicks: number;

  @Field(() => Float, { nullable: true, description: "Of those test clicks, the share found in the user's top 20 (recall@20 pooled over users); null without test clicks." })
  recall20: number | null;

  @Field(() => Float, { nullable: true, description: "Share of all top-10 recommendation slots given to the cohort's items." })
  recommendationShare: number | null;
}

/** One model's figures in one activity cohort. */
@ObjectType("CohortFigures", { description: "One model's figures over the test users of a cohort." })
export class CohortFiguresType {
  @Field(() => Float, { nullable: true, description: "Mean capacity ĉu = KL(q(z|x_u) ‖ N(0, I)) over the cohort; null when empty or for a popularity model." })
  meanCapacity: number | null;

  @Field(() => Float, { nullable: true, description: "Mean NDCG@10 on the test split (VCM ranking from training clicks, training clicks excluded); null when empty." })
  ndcg10: number | null;

  @Field(() => Float, { nullable: true, description: "Mean Recall@20 on the test split; null when empty." })
  recall20: number | null;

  @Field(() => BeyondAccuracyType, { description: "Coverage, ARP, APLT and novelty of the cohort's top-10 lists." })
  beyondAccuracy: BeyondAccuracyType;
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

  @Field(() => CohortGroupingEnum)
  grouping: CohortGroupingEnum;

  @Field(() => [Int], { description: "The boundaries used (given, or the quantile cuts): cohort j holds users with boundaries[j−1] ≤ training clicks < boundaries[j]." })
  boundaries: number[];

  @Field(() => BeyondAccuracyType, { description: "This model's beyond-accuracy figures over all test users (the long tail at the asked shares)." })
  beyondAccuracy: BeyondAccuracyType;

  @Field(() => [ItemCohortType], { description: "Head, torso and tail of the model's items, at headShare and tailShare, with this model's accuracy on each." })
  itemCohorts: ItemCohortType[];

  @Field(() => Int, { description: "Test users over all cohorts." })
  testUsers: number;

  @Field(() => [CohortType])
  cohorts: CohortType[];
}
