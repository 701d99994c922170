import type { ComplexityEstimatorArgs } from "graphql-query-complexity";
import { Arg, Ctx, FieldResolver, ID, Int, Resolver, Root } from "type-graphql";
import type { Review } from "../../db/entities/review.entity.ts";
import { tokenSpanPage } from "../../data/tokenizer.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { highlightSpans } from "../../services/highlights.ts";
import type { GraphQLContext } from "../context.ts";
import { checkHighlightPage, MAX_HIGHLIGHT_TOKENS } from "../limits.ts";
import { HighlightTokenType, type HighlightLevelEnum } from "../types/prediction.type.ts";
import { ReviewType } from "../types/review.type.ts";
import { parseId, requireLoaded } from "./lookup.ts";
import { chooseModel, loadChosen, MODEL_ARGUMENT_DESCRIPTION, MODEL_ID_ARGUMENT_DESCRIPTION } from "./model-ref.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** Loading the writer's word distribution under a model, before any token is marked. */
const HIGHLIGHT_BASE_COST = 50;

/** A page of `first` tokens (all MAX_HIGHLIGHT_TOKENS by default) costs `first` times each token's selection. */
function highlightsComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const first = typeof args.first === "number" ? Math.max(0, Math.min(args.first, MAX_HIGHLIGHT_TOKENS)) : MAX_HIGHLIGHT_TOKENS;
  return HIGHLIGHT_BASE_COST + first * Math.max(1, childComplexity);
}

/** A review's text marked with its writer's click2review distribution (the paper's Figure 5). */
@Resolver(() => ReviewType)
export class HighlightResolver {
  @FieldResolver(() => [HighlightTokenType], {
    complexity: highlightsComplexity,
    description:
      `A page of the review's text as tokens (at most ${MAX_HIGHLIGHT_TOKENS}: \`first\` of those that start at or after the character offset \`from\`; the next page starts at the last token's end), each word of the model's vocabulary marked with its writer's click2review probability p_u(w) (from the writer's training clicks) and a level (HighlightLevel: top 1 % / top 10 % / rest of that user's distribution). With compareTo, the second model's marks beside them. Both models must be of the review's dataset and have a word model (not popularity).`,
  })
  async highlights(
    @Root() review: Review,
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, { nullable: true, description: MODEL_ID_ARGUMENT_DESCRIPTION }) modelId: string | null | undefined,
    @Arg("model", () => String, { nullable: true, description: MODEL_ARGUMENT_DESCRIPTION }) model: string | null | undefined,
    @Arg("compareTo", () => ID, { nullable: true }) compareTo: string | null,
    @Arg("first", () => Int, { nullable: true, description: `Most tokens to return, from 0 to ${MAX_HIGHLIGHT_TOKENS} (the default).` }) first: number | null,
    @Arg("from", () => Int, { nullable: true, description: "Character offset (UTF-16, as start and end) of the page: tokens that start there or later. Default 0." })
    from: number | null,
  ): Promise<HighlightTokenType[]> {
    const page = checkHighlightPage({ first, from });
    const prediction = predictionOf(context);
    const user = await requireLoaded(context.loaders.userById.load(review.userId), `user ${review.userId}`);
    const chosen = await chooseModel(context, { modelId, model, user });
    const ids = [(await loadChosen(context, chosen)).modelId, ...(compareTo == null ? [] : [parseId(compareTo, "Model")])];
    const distributions = await Promise.all(
      ids.map(async (id) => {
        const loaded = await prediction.services.inference.model(id);
        if (loaded.datasetId !== user.datasetId) {
          throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${id} was trained on dataset "${loaded.datasetName}", not on this review's; pick a model of the review's dataset.`);
        }
        return prediction.loaders.wordDistribution.load({ modelId: id, row: user.rowIndex });
      }),
    );
    const { wordColumn, stopWords } = await prediction.services.inference.dataset(user.datasetId);
    return highlightSpans({ spans: tokenSpanPage({ text: review.text, stopWords, ...page }), wordColumn, distribution: distributions[0], compareTo: distributions[1] }).map((t) => ({
      text: review.text.slice(t.start, t.end),
      start: t.start,
      end: t.end,
      word: t.word,
      mark: t.mark === null ? null : { probability: t.mark.probability, level: t.mark.level as HighlightLevelEnum },
      compared: t.compared === null ? null : { probability: t.compared.probability, level: t.compared.level as HighlightLevelEnum },
    }));
  }
}
