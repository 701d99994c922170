import { Arg, Ctx, ID, Int, Query, Resolver } from "type-graphql";
import type { CohortAnalysis } from "../../services/cohorts.ts";
import { DEFAULT_COHORT_BOUNDARIES } from "../../services/cohorts.ts";
import type { GraphQLContext } from "../context.ts";
import { CohortAnalysisType } from "../types/cohort.type.ts";
import { parseId } from "./lookup.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** Cohort analysis by activity level (the paper's Table 3). */
@Resolver(() => CohortAnalysisType)
export class CohortResolver {
  @Query(() => CohortAnalysisType, {
    complexity: 50,
    description:
      "Test users (users with at least one test click) grouped by activity level: their number of TRAINING clicks, cut at the boundaries ([5, 20, 40, 60, 80] gives < 5, 5–19, 20–39, 40–59, 60–79, ≥ 80). Per cohort: user count, mean capacity ĉu, NDCG@10 and Recall@20 on the test split (VCM ranking from training clicks with training clicks excluded, exactly the engine's evaluateRanking); with compareTo, the same for the other model over the same users and the relative change. The first call per model ranks every test user (seconds on large datasets); later calls reuse it. BAD_USER_INPUT unless boundaries are strictly ascending positive integers, or when the two models belong to different datasets.",
  })
  async cohorts(
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID) modelId: string,
    @Arg("boundaries", () => [Int], { defaultValue: [...DEFAULT_COHORT_BOUNDARIES] }) boundaries: number[],
    @Arg("compareTo", () => ID, { nullable: true, description: "A second model of the same dataset to compare with." })
    compareTo: string | null | undefined,
  ): Promise<CohortAnalysis> {
    return predictionOf(context).services.cohorts.analyse({
      modelId: parseId(modelId, "Model"),
      boundaries,
      compareTo: compareTo === null || compareTo === undefined ? null : parseId(compareTo, "Model"),
    });
  }
}
