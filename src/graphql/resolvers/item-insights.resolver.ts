import type { ComplexityEstimatorArgs } from "graphql-query-complexity";
import { Arg, Ctx, FieldResolver, ID, Int, Resolver, Root } from "type-graphql";
import type { Item } from "../../db/entities/item.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import { AUDIENCE_DEPTH } from "../../services/item-audience.ts";
import { itemCharacteristicWords, type ItemWord } from "../../services/item-characteristics.ts";
import type { GraphQLContext } from "../context.ts";
import { DEFAULT_HEAVY_GATE_LIMITS } from "../heavy-gate.ts";
import { checkAudienceK, checkItemWordsK, MAX_AUDIENCE_USERS, MAX_ITEM_WORDS } from "../limits.ts";
import { ItemType } from "../types/item.type.ts";
import {
  ItemAudienceType,
  ItemAudienceUserType,
  ItemReasonClickType,
  ItemWordType,
  type ItemAudienceUserValue,
  type ItemReasonClickValue,
} from "../types/item-insights.type.ts";
import { UserType } from "../types/user.type.ts";
import { requireLoaded } from "./lookup.ts";
import { chooseModel, loadChosen, MODEL_ARGUMENT_DESCRIPTION, MODEL_ID_ARGUMENT_DESCRIPTION } from "./model-ref.ts";
import { DEFAULT_EXPLANATION_K, itemOf, predictionOf } from "./prediction.resolver.ts";

/** Words an item's view lists when no k is given. */
const DEFAULT_ITEM_WORDS = 10;

/** A list of k words costs k times its selection. */
function itemWordsComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const k = typeof args.k === "number" ? args.k : DEFAULT_ITEM_WORDS;
  return 5 + Math.max(1, Math.min(k, MAX_ITEM_WORDS)) * Math.max(1, childComplexity);
}

/** Users recommendedTo lists when no k is given. */
const DEFAULT_AUDIENCE_USERS = 10;

/**
 * recommendedTo always counts as a large query (heavy-gate.ts): its first call per model ranks every
 * user of the dataset; and each listed user's explanation costs as a ranking's entry does.
 */
function audienceComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const k = typeof args.k === "number" ? args.k : DEFAULT_AUDIENCE_USERS;
  return DEFAULT_HEAVY_GATE_LIMITS.threshold + Math.max(1, Math.min(k, MAX_AUDIENCE_USERS)) * Math.max(1, childComplexity);
}

/** The value of ItemAudience: the service's answer with the dataset its users and clicked items belong to. */
interface ItemAudienceValue {
  readonly users: ItemAudienceUserValue[];
  readonly candidates: number;
  readonly usersScored: number;
  readonly reasons: { words: Array<{ word: string; users: number; meanWeight: number }>; clicks: ItemReasonClickValue[]; unexplained: number };
}

/** What the dashboard's item view reads of an item: its reviews' words, and its audience under a model. */
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

  @FieldResolver(() => ItemAudienceType, {
    complexity: audienceComplexity,
    description: `The users to whom the model recommends this item most: among the users whose recommendations (from training clicks, training clicks excluded, as recommendations(k: ${AUDIENCE_DEPTH}) gives them) hold it, those with the best rank, then the higher score; with each listed user's default explanation of the item (words and clicks) aggregated. The first call per model ranks every user of the dataset (in chunks; later calls and other items reuse it until the dataset grows), so it always counts as a large query. An item appended after the model was trained has no audience. BAD_USER_INPUT for both or neither of modelId and model, a model of another dataset, a model without explanations (popularity), or k outside 1 to ${MAX_AUDIENCE_USERS}; NOT_FOUND for an unknown model or alias.`,
  })
  async recommendedTo(
    @Root() item: Item,
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, { nullable: true, description: MODEL_ID_ARGUMENT_DESCRIPTION }) modelId: string | null | undefined,
    @Arg("model", () => String, { nullable: true, description: MODEL_ARGUMENT_DESCRIPTION }) model: string | null | undefined,
    @Arg("k", () => Int, { defaultValue: DEFAULT_AUDIENCE_USERS, description: `How many users to list, 1 to ${MAX_AUDIENCE_USERS}.` }) k: number,
  ): Promise<ItemAudienceValue> {
    checkAudienceK(k);
    const dataset = await requireLoaded(context.loaders.datasetById.load(item.datasetId), `dataset ${item.datasetId}`);
    // An alias stands for its model here: the question has no user.
    const loaded = await loadChosen(context, await chooseModel(context, { modelId, model, datasetName: dataset.name }));
    if (loaded.datasetId !== item.datasetId) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `Model ${loaded.modelId} was trained on dataset "${loaded.datasetName}", but item ${item.id} belongs to "${dataset.name}"; pick a model of the item's dataset.`);
    }
    const audience = await predictionOf(context).services.audiences.audience({ modelId: loaded.modelId, item: item.columnIndex, k, explanationK: DEFAULT_EXPLANATION_K });
    return {
      users: audience.users.map((u) => ({ datasetId: item.datasetId, externalId: u.externalId, rank: u.rank, score: u.score })),
      candidates: audience.candidates,
      usersScored: audience.usersScored,
      reasons: { ...audience.reasons, words: [...audience.reasons.words], clicks: audience.reasons.clicks.map((c) => ({ ...c, datasetId: item.datasetId })) },
    };
  }
}

/** The user of an audience entry. */
@Resolver(() => ItemAudienceUserType)
export class ItemAudienceUserResolver {
  @FieldResolver(() => UserType)
  user(@Root() value: ItemAudienceUserValue, @Ctx() context: GraphQLContext): Promise<User> {
    return requireLoaded(context.loaders.userByExternalId.load({ datasetId: value.datasetId, externalId: value.externalId }), `user "${value.externalId}"`);
  }
}

/** The clicked item of an aggregated reason. */
@Resolver(() => ItemReasonClickType)
export class ItemReasonClickResolver {
  @FieldResolver(() => ItemType)
  item(@Root() value: ItemReasonClickValue, @Ctx() context: GraphQLContext): Promise<Item> {
    return itemOf(context, value);
  }
}
