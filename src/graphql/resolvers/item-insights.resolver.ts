import type { ComplexityEstimatorArgs } from "graphql-query-complexity";
import { Arg, Ctx, FieldResolver, Int, Resolver, Root } from "type-graphql";
import type { Item } from "../../db/entities/item.entity.ts";
import { itemCharacteristicWords, type ItemWord } from "../../services/item-characteristics.ts";
import type { GraphQLContext } from "../context.ts";
import { checkItemWordsK, MAX_ITEM_WORDS } from "../limits.ts";
import { ItemType } from "../types/item.type.ts";
import { ItemWordType } from "../types/item-insights.type.ts";
import { predictionOf } from "./prediction.resolver.ts";

/** Words an item's view lists when no k is given. */
const DEFAULT_ITEM_WORDS = 10;

/** A list of k words costs k times its selection. */
function itemWordsComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const k = typeof args.k === "number" ? args.k : DEFAULT_ITEM_WORDS;
  return 5 + Math.max(1, Math.min(k, MAX_ITEM_WORDS)) * Math.max(1, childComplexity);
}

/** What the dashboard's item view reads of an item: its reviews' words. */
@Resolver(() => ItemType)
export class ItemInsightsResolver {
  @FieldResolver(() => [ItemWordType], {
    complexity: itemWordsComplexity,
    description: `The words the item's reviews use most against the corpus: the words of its reviews ranked by lift(w, i), largest first (equal lifts: the more frequent first), with their counts there. Empty for an item without review text. BAD_USER_INPUT unless k is from 1 to ${MAX_ITEM_WORDS}.`,
  })
  async characteristicWords(
    @Root() item: Item,
    @Ctx() context: GraphQLContext,
    @Arg("k", () => Int, { defaultValue: DEFAULT_ITEM_WORDS, description: `How many words, 1 to ${MAX_ITEM_WORDS}.` }) k: number,
  ): Promise<ItemWord[]> {
    checkItemWordsK(k);
    return itemCharacteristicWords({ inference: predictionOf(context).services.inference, datasetId: item.datasetId, item: item.columnIndex, k });
  }
}
