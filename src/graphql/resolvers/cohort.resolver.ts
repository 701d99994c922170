import { Arg, Ctx, Float, ID, Int, Query, Resolver } from "type-graphql";
import type { CohortAnalysis } from "../../services/cohorts.ts";
import { DEFAULT_COHORT_BOUNDARIES, DEFAULT_COHORT_GROUPS, DEFAULT_ITEM_SHARES } from "../../services/cohorts.ts";
import type { GraphQLContext } from "../context.ts";
import { CohortAnalysisType, CohortGroupingEnum } from "../types/cohort.type.ts";
import { parseId } from "./lookup.ts";
import { ALIAS_DATASET_ARGUMENT_DESCRIPTION, chooseModel, loadChosen, MODEL_ARGUMENT_DESCRIPTION, MODEL_ID_ARGUMENT_DESCRIPTION } from "./model-ref.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** Cohort analysis by activity level (the paper's Table 3). */
@Resolver(() => CohortAnalysisType)
export class CohortResolver {
  @Query(() => CohortAnalysisType, {
    complexity: 50,
    description:
      "Test users (users with at least one test click) grouped by activity level: their number of TRAINING clicks, cut at the boundaries with grouping BOUNDARIES (the default; [5, 20, 40, 60, 80] gives < 5, 5–19, 20–39, 40–59, 60–79, ≥ 80), or into `groups` quantile groups of equal users (EQUAL_USERS) or equal training clicks (EQUAL_INTERACTIONS), users tied at a cut kept together. Per cohort: user count, mean capacity ĉu, NDCG@10, Recall@20 and the beyond-accuracy figures (coverage, ARP, APLT, novelty at 10) on the test split (VCM ranking from training clicks with training clicks excluded, exactly the engine's evaluateRanking); with compareTo, the same for the other model over the same users and the relative change. The first call per model ranks every test user (seconds on large datasets); later calls reuse it. Also the model's items cut into head / torso / tail by popularity with the accuracy on each. BAD_USER_INPUT unless boundaries are strictly ascending positive integers, groups an integer from 1 to 51, headShare and tailShare shares from 0 to 1 summing to at most 1, or when the two models belong to different datasets.",
  })
  async cohorts(
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, { nullable: true, description: MODEL_ID_ARGUMENT_DESCRIPTION }) modelId: string | null | undefined,
    @Arg("model", () => String, { nullable: true, description: MODEL_ARGUMENT_DESCRIPTION }) model: string | null | undefined,
    @Arg("grouping", () => CohortGroupingEnum, { defaultValue: CohortGroupingEnum.BOUNDARIES }) grouping: CohortGroupingEnum,
    @Arg("boundaries", () => [Int], { defaultValue: [...DEFAULT_COHORT_BOUNDARIES], description: "With grouping BOUNDARIES." }) boundaries: number[],
    @Arg("groups", () => Int, { defaultValue: DEFAULT_COHORT_GROUPS, description: "With EQUAL_USERS or EQUAL_INTERACTIONS: the number of quantile groups." }) groups: number,
    @Arg("headShare", () => Float, { defaultValue: DEFAULT_ITEM_SHARES.head, description: "Share of all training clicks the head item cohort reaches." }) headShare: number,
    @Arg("tailShare", () => Float, { defaultValue: DEFAULT_ITEM_SHARES.tail, description: "Share of all training clicks the tail item cohort (the long tail of APLT) stays within." }) tailShare: number,
    @Arg("compareTo", () => ID, { nullable: true, description: "A second model of the same dataset to compare with." })
    compareTo: string | null | undefined,
    @Arg("dataset", () => String, { nullable: true, description: ALIAS_DATASET_ARGUMENT_DESCRIPTION }) dataset: string | null | undefined,
  ): Promise<CohortAnalysis> {
    // Cohorts cover every test user, so an alias stands for its model (not its candidate) here.
    const choice = await chooseModel(context, { modelId, model, datasetName: dataset });
    return predictionOf(context).services.cohorts.analyse({
      modelId: (await loadChosen(context, choice)).modelId,
      grouping,
      groups,
      boundaries,
      itemShares: { head: headShare, tail: tailShare },
      compareTo: compareTo === null || compareTo === undefined ? null : parseId(compareTo, "Model"),
    });
  }
}
