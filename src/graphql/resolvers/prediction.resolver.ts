import type { ComplexityEstimatorArgs } from "graphql-query-complexity";
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";
import { Arg, Ctx, FieldResolver, Float, ID, Info, Int, Query, Resolver, Root } from "type-graphql";
import type { Item } from "../../db/entities/item.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import { topK } from "../../engine/metrics.ts";
import { ErrorCode, UserError, invariant } from "../../errors.ts";
import type { LoadedModel, NamedExplanation, WhatIfReading } from "../../services/served-model.ts";
import type { GraphQLContext } from "../context.ts";
import { MAX_K, MAX_WHAT_IF_CLICKS, checkK, checkText, checkWhatIfClicks } from "../limits.ts";
import type { PredictionContextPart } from "../prediction-loaders.ts";
import { ItemType } from "../types/item.type.ts";
import {
  ClickReasonKindEnum,
  ExplanationClickType,
  ExplanationRuleEnum,
  ExplanationType,
  HistoryRecommendationsType,
  RankedItemType,
  RecommendationSourceEnum,
  RecommendationType,
  TextRecommendationsType,
  WordProbabilityType,
  type ExplanationClickValue,
  type RankedItemValue,
} from "../types/prediction.type.ts";
import { UserType } from "../types/user.type.ts";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import { TrainedModelType } from "../types/trained-model.type.ts";
import { requireItem, requireLoaded } from "./lookup.ts";
import { ALIAS_DATASET_ARGUMENT_DESCRIPTION, chooseModel, loadChosen, MODEL_ARGUMENT_DESCRIPTION, MODEL_ID_ARGUMENT_DESCRIPTION, type ModelChoice } from "./model-ref.ts";

/** Default ranking length of recommendations and recommendForText. */
const DEFAULT_K = 20;
/** Default number of explanation words (and clicks). */
export const DEFAULT_EXPLANATION_K = 10;

/** A list of k entries costs k times its selection, plus the forward pass. */
function rankingComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const k = typeof args.k === "number" ? args.k : DEFAULT_K;
  return 10 + Math.max(1, Math.min(k, MAX_K)) * Math.max(1, childComplexity);
}

/**
 * Each recommendForText is a forward pass of its own through both VAEs (users of one query share one
 * batched pass, texts do not): measured at the Yelp shape, ≈ 0.7 ms, some 200 times a plain field.
 */
const TEXT_FORWARD_PASS_COST = 200;

function textRankingComplexity(args: ComplexityEstimatorArgs): number {
  return TEXT_FORWARD_PASS_COST + rankingComplexity(args);
}

/** A list of k words costs k times its selection. */
function wordListComplexity({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const k = typeof args.k === "number" ? args.k : DEFAULT_EXPLANATION_K;
  return 5 + Math.max(1, Math.min(k, MAX_K)) * Math.max(1, childComplexity);
}

/** The prediction part of the context, which the server wires when it has the services. */
export function predictionOf(context: GraphQLContext): PredictionContextPart {
  invariant(context.prediction !== undefined, "the server was built with prediction services");
  return context.prediction;
}

/** Loads the model a user's question names (by id or alias), checking it was trained on the user's dataset. */
async function modelForUser(options: { context: GraphQLContext; user: User; modelId?: string | null; model?: string | null }): Promise<Pick<LoadedModel, "modelId" | "datasetId"> & { choice: ModelChoice }> {
  const choice = await chooseModel(options.context, { modelId: options.modelId, model: options.model, user: options.user });
  const loaded = await loadChosen(options.context, choice);
  if (loaded.datasetId !== options.user.datasetId) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Model ${loaded.modelId} was trained on dataset "${loaded.datasetName}", but user ${options.user.id} belongs to another dataset; pick a model of the user's dataset.`,
    );
  }
  return { modelId: loaded.modelId, datasetId: loaded.datasetId, choice };
}

/** The model that served an answer, for its servedBy field. */
function servedBy(context: GraphQLContext, modelId: number): Promise<TrainedModel> {
  return requireLoaded(context.loaders.modelById.load(modelId), `model ${modelId}`);
}

/** The `modelId` argument of a field that also takes `model`. */
const MODEL_ID_ARG = { nullable: true, description: MODEL_ID_ARGUMENT_DESCRIPTION } as const;
/** The `model` argument (an id or an alias). */
const MODEL_ARG = { nullable: true, description: MODEL_ARGUMENT_DESCRIPTION } as const;
/** The `dataset` argument of fields without a user, for an alias name several datasets have. */
const ALIAS_DATASET_ARG = { nullable: true, description: ALIAS_DATASET_ARGUMENT_DESCRIPTION } as const;

/** The GraphQL value of an explanation of a pair of dataset `datasetId` (item tokens named for readers of the schema). */
function explanationValue(explanation: NamedExplanation, datasetId: number): ExplanationType {
  return {
    clicks: explanation.clicks.map((c) => ({ datasetId, item: c.item, effect: c.effect })),
    clickReason: explanation.clickReason === undefined ? null : { ...explanation.clickReason, kind: explanation.clickReason.kind as ClickReasonKindEnum },
    words: explanation.words.map((w) => ({
      word: w.word,
      weight: w.weight,
      userProbability: w.userProbability,
      lift: w.lift,
      effect: w.effect ?? null,
    })),
    coveredShare: explanation.coveredShare,
    affinity: explanation.affinity,
    itemReviewTokens: explanation.itemTokens,
    rule: explanation.rule as ExplanationRuleEnum,
  };
}

/** Whether an explanation field selects its `clicks` or `clickReason` (directly or through fragments): only then do the click passes run. */
function asksForClicks(info: GraphQLResolveInfo): boolean {
  const spread = new Set<string>();
  const selects = (set: SelectionSetNode | undefined): boolean =>
    set !== undefined &&
    set.selections.some((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === "clicks" || selection.name.value === "clickReason";
      if (selection.kind === Kind.INLINE_FRAGMENT) return selects(selection.selectionSet);
      if (spread.has(selection.name.value)) return false;
      spread.add(selection.name.value);
      return selects(info.fragments[selection.name.value]?.selectionSet);
    });
  return info.fieldNodes.some((node) => selects(node.selectionSet));
}

/** One pair's explanation through the request's batching loader. */
async function explain(options: {
  context: GraphQLContext;
  datasetId: number;
  modelId: number;
  row: number;
  item: number;
  k: number;
  rule: ExplanationRuleEnum;
  clicks: boolean;
}): Promise<ExplanationType> {
  const { context, datasetId, ...request } = options;
  checkK(request.k);
  return explanationValue(await predictionOf(context).loaders.explanation.load(request), datasetId);
}

/** The item of a ranked entry or an explanation's click, through the request's item-by-column loader. */
export async function itemOf(context: GraphQLContext, value: Pick<RankedItemValue, "datasetId" | "item">): Promise<Item> {
  const item = await predictionOf(context).loaders.itemByColumn.load({ datasetId: value.datasetId, column: value.item });
  invariant(item !== null, `dataset ${value.datasetId} has an item in column ${value.item}`);
  return item;
}

/** Predictions on a user: recommendations, click2review words, capacity and explanations. */
@Resolver(() => UserType)
export class PredictionResolver {
  @FieldResolver(() => [RecommendationType], {
    complexity: rankingComplexity,
    description:
      "The user's top-k items under a model: VCM from the user's clicks (source CLICKS) or VCM-CD from the words of the user's reviews (source REVIEWS). All users of one query are scored in one batched forward pass per model and source.",
  })
  async recommendations(
    @Root() user: User,
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, { ...MODEL_ID_ARG, description: "A READY model trained on this user's dataset; give this or model." }) modelId: string | null | undefined,
    @Arg("model", () => String, MODEL_ARG) model: string | null | undefined,
    @Arg("k", () => Int, { defaultValue: DEFAULT_K, description: `How many items, 1 to ${MAX_K}.` }) k: number,
    @Arg("source", () => RecommendationSourceEnum, { defaultValue: RecommendationSourceEnum.CLICKS })
    source: RecommendationSourceEnum,
    @Arg("excludeSeen", () => Boolean, {
      defaultValue: true,
      description: "Leave out the items the user clicked in the training split (the paper's protocol).",
    })
    excludeSeen: boolean,
  ): Promise<RankedItemValue[]> {
    checkK(k);
    const loaded = await modelForUser({ context, user, modelId, model });
    const ranked = await predictionOf(context).loaders.recommendations.load({
      modelId: loaded.modelId,
      source,
      row: user.rowIndex,
      k,
      excludeSeen,
    });
    const alias = loaded.choice.alias;
    if (alias !== null && alias.logServing) {
      const logged = await predictionOf(context).services.aliases.logServed({ alias, modelId: loaded.modelId, userId: user.id, itemColumns: ranked.map((r) => r.item) });
      if (!logged) context.deps.logger.error(`alias "${alias.name}": an answer was served without its serving-log rows`, new Error("the database stayed locked or unreachable"));
    }
    return ranked.map((r) => ({ ...r, modelId: loaded.modelId, datasetId: user.datasetId, row: user.rowIndex }));
  }

  @FieldResolver(() => [WordProbabilityType], {
    complexity: wordListComplexity,
    description:
      "click2review: the k most probable words of the user's word distribution p(w|u), VAEy's decoder applied to z = μx(x_u) (the user's training clicks). Needs a model with a word model (not popularity).",
  })
  async topWords(
    @Root() user: User,
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, MODEL_ID_ARG) modelId: string | null | undefined,
    @Arg("model", () => String, MODEL_ARG) model: string | null | undefined,
    @Arg("k", () => Int, { defaultValue: DEFAULT_K, description: `How many words, 1 to ${MAX_K}.` }) k: number,
  ): Promise<WordProbabilityType[]> {
    checkK(k);
    const loaded = await modelForUser({ context, user, modelId, model });
    const prediction = predictionOf(context);
    const distribution = await prediction.loaders.wordDistribution.load({ modelId: loaded.modelId, row: user.rowIndex });
    const { matrices } = await prediction.services.inference.dataset(loaded.datasetId);
    return Array.from(topK({ scores: distribution, k }), (w) => ({
      word: matrices.vocabulary[w],
      probability: distribution[w],
    }));
  }

  @FieldResolver(() => Float, {
    description:
      "Capacity ĉu = KL(q(z|x_u) ‖ N(0, I)) of the user's click posterior, in nats: how much the user's training clicks tell the model. Not defined for a popularity model (BAD_USER_INPUT).",
  })
  async capacity(
    @Root() user: User,
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, MODEL_ID_ARG) modelId: string | null | undefined,
    @Arg("model", () => String, MODEL_ARG) model: string | null | undefined,
  ): Promise<number> {
    const loaded = await modelForUser({ context, user, modelId, model });
    return predictionOf(context).loaders.capacity.load({ modelId: loaded.modelId, row: user.rowIndex });
  }

  @FieldResolver(() => ExplanationType, {
    complexity: wordListComplexity,
    description:
      "The words that tie this user to any item of the same dataset under a model (see the Explanation type for the weights). NOT_FOUND for an unknown item; BAD_USER_INPUT for an item of another dataset or a popularity model.",
  })
  async explanation(
    @Root() user: User,
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, MODEL_ID_ARG) modelId: string | null | undefined,
    @Arg("model", () => String, MODEL_ARG) model: string | null | undefined,
    @Arg("itemId", () => ID, { description: "Internal id of the item." }) itemId: string,
    @Arg("k", () => Int, { defaultValue: DEFAULT_EXPLANATION_K, description: `How many words, 1 to ${MAX_K}.` }) k: number,
    @Arg("rule", () => ExplanationRuleEnum, { defaultValue: ExplanationRuleEnum.EFFECT }) rule: ExplanationRuleEnum,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ExplanationType> {
    checkK(k);
    const loaded = await modelForUser({ context, user, modelId, model });
    const item = await requireItem(context, { id: itemId });
    if (item.datasetId !== user.datasetId) {
      throw new UserError(
        ErrorCode.BAD_USER_INPUT,
        `Item ${item.id} belongs to another dataset than user ${user.id}; explain pairs of the same dataset.`,
      );
    }
    return explain({ context, datasetId: user.datasetId, modelId: loaded.modelId, row: user.rowIndex, item: item.columnIndex, k, rule, clicks: asksForClicks(info) });
  }
}

/** Fields of a recommendation that need loading: the item and its explanation. */
@Resolver(() => RecommendationType)
export class RecommendationResolver {
  @FieldResolver(() => ItemType)
  item(@Root() value: RankedItemValue, @Ctx() context: GraphQLContext): Promise<Item> {
    return itemOf(context, value);
  }

  @FieldResolver(() => TrainedModelType, { description: "The model that ranked this item: through an alias with a candidate, the arm this user is in." })
  servedBy(@Root() value: RankedItemValue, @Ctx() context: GraphQLContext): Promise<TrainedModel> {
    return servedBy(context, value.modelId);
  }

  @FieldResolver(() => ExplanationType, {
    complexity: wordListComplexity,
    description:
      "The words that tie the user to this item, chosen by `rule` (ExplanationRule; default EFFECT: words of the user's text that the item's reviews use more than the corpus does and whose removal lowers the item's review2click score, ranked by p(w|u) times that fall). Explanations of all recommendations of a query share one click2review pass and two effect passes per model.",
  })
  explanation(
    @Root() value: RankedItemValue,
    @Ctx() context: GraphQLContext,
    @Arg("k", () => Int, { defaultValue: DEFAULT_EXPLANATION_K, description: `How many words, 1 to ${MAX_K}.` }) k: number,
    @Arg("rule", () => ExplanationRuleEnum, { defaultValue: ExplanationRuleEnum.EFFECT }) rule: ExplanationRuleEnum,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ExplanationType> {
    if (value.whatIf !== undefined) {
      checkK(k);
      return predictionOf(context)
        .loaders.whatIfExplanation.load({ modelId: value.modelId, reading: value.whatIf, item: value.item, k, rule, clicks: asksForClicks(info) })
        .then((explanation) => explanationValue(explanation, value.datasetId));
    }
    invariant(value.row !== undefined, "recommendations carry the user's row");
    return explain({ context, datasetId: value.datasetId, modelId: value.modelId, row: value.row, item: value.item, k, rule, clicks: asksForClicks(info) });
  }
}

/** The clicked item of an explanation. */
@Resolver(() => ExplanationClickType)
export class ExplanationClickResolver {
  @FieldResolver(() => ItemType)
  item(@Root() value: ExplanationClickValue, @Ctx() context: GraphQLContext): Promise<Item> {
    return itemOf(context, value);
  }
}

/** The item of a text recommendation. */
@Resolver(() => RankedItemType)
export class RankedItemResolver {
  @FieldResolver(() => ItemType)
  item(@Root() value: RankedItemValue, @Ctx() context: GraphQLContext): Promise<Item> {
    return itemOf(context, value);
  }

  @FieldResolver(() => TrainedModelType, { description: "The model that ranked this item." })
  servedBy(@Root() value: RankedItemValue, @Ctx() context: GraphQLContext): Promise<TrainedModel> {
    return servedBy(context, value.modelId);
  }
}

/** Value of TextRecommendations. */
interface TextRecommendationsValue {
  readonly modelId: number;
  readonly items: RankedItemValue[];
  readonly knownWords: string[];
  readonly unknownTokenCount: number;
}

/** Cold start from text. */
@Resolver(() => TextRecommendationsType)
export class TextRecommendationResolver {
  @Query(() => TextRecommendationsType, {
    complexity: textRankingComplexity,
    description:
      "Cold start from text alone (VCM-CD, review2click): the text is tokenised as the dataset's reviews were (lowercase, stop words removed), turned into a bag of words over the model's vocabulary, encoded by VAEy and decoded by VAEx. BAD_USER_INPUT when no word of the text is in the vocabulary, the text is empty or too long, or the model is a popularity baseline.",
  })
  async recommendForText(
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, MODEL_ID_ARG) modelId: string | null | undefined,
    @Arg("model", () => String, MODEL_ARG) model: string | null | undefined,
    @Arg("text", () => String, { description: "Any text, e.g. a review or a description of a taste." }) text: string,
    @Arg("k", () => Int, { defaultValue: DEFAULT_K, description: `How many items, 1 to ${MAX_K}.` }) k: number,
    @Arg("dataset", () => String, ALIAS_DATASET_ARG) dataset: string | null | undefined,
  ): Promise<TextRecommendationsValue> {
    checkK(k);
    checkText(text);
    const id = (await loadChosen(context, await chooseModel(context, { modelId, model, datasetName: dataset }))).modelId;
    const result = await predictionOf(context).services.inference.recommendForText({ modelId: id, text, k });
    return {
      modelId: id,
      items: result.items.map((r) => ({ ...r, modelId: id, datasetId: result.datasetId })),
      knownWords: result.knownWords,
      unknownTokenCount: result.unknownTokens,
    };
  }

  @FieldResolver(() => [RankedItemType], { description: "The recommended items, best first." })
  items(@Root() value: TextRecommendationsValue): RankedItemValue[] {
    return value.items;
  }

  @FieldResolver(() => TrainedModelType, { description: "The model that answered (the alias's model when asked through one)." })
  servedBy(@Root() value: TextRecommendationsValue, @Ctx() context: GraphQLContext): Promise<TrainedModel> {
    return servedBy(context, value.modelId);
  }
}

/** Value of HistoryRecommendations. */
interface HistoryRecommendationsValue {
  readonly modelId: number;
  readonly reading: WhatIfReading;
  readonly recommendations: RankedItemValue[];
}

/** Recommendations for a history given in the query. */
@Resolver(() => HistoryRecommendationsType)
export class HistoryRecommendationResolver {
  @Query(() => HistoryRecommendationsType, {
    complexity: textRankingComplexity,
    description: `What a model says for a history that is not stored ("what if this user had also clicked X", a visitor before any row is written): clicked items (external ids of the model's dataset) and/or a text, read as a stored user's clicks and bag of words are. Items the model does not know are listed in unknownItemIds; BAD_USER_INPUT when nothing of the history is known, with more than ${MAX_WHAT_IF_CLICKS} clicks or a text over the length limit. With the clicks and review words of a stored user it answers exactly as that user's recommendations, topWords and capacity do.`,
  })
  async recommendFor(
    @Ctx() context: GraphQLContext,
    @Arg("modelId", () => ID, MODEL_ID_ARG) modelId: string | null | undefined,
    @Arg("model", () => String, MODEL_ARG) model: string | null | undefined,
    @Arg("clicks", () => [String], { defaultValue: [], description: "External ids of the items clicked (order and repeats do not matter)." }) clicks: string[],
    @Arg("text", () => String, { nullable: true, description: "Text of the history's reviews, tokenised as the dataset's reviews were." }) text: string | null | undefined,
    @Arg("k", () => Int, { defaultValue: DEFAULT_K, description: `How many items, 1 to ${MAX_K}.` }) k: number,
    @Arg("excludeClicked", () => Boolean, { defaultValue: true, description: "Leave out the clicked items (as recommendations leaves out a user's training clicks)." })
    excludeClicked: boolean,
    @Arg("dataset", () => String, ALIAS_DATASET_ARG) dataset: string | null | undefined,
  ): Promise<HistoryRecommendationsValue> {
    checkK(k);
    checkWhatIfClicks(clicks);
    // An omitted text arrives as undefined, a null one as null: both mean none.
    const given = text ?? null;
    if (given !== null) checkText(given);
    const id = (await loadChosen(context, await chooseModel(context, { modelId, model, datasetName: dataset }))).modelId;
    const answer = await predictionOf(context).services.inference.recommendFor({ modelId: id, clicks, text: given, k, excludeClicked });
    return {
      modelId: id,
      reading: answer.reading,
      recommendations: answer.items.map((r) => ({ ...r, modelId: id, datasetId: answer.datasetId, whatIf: answer.reading })),
    };
  }

  @FieldResolver(() => TrainedModelType, { description: "The model that answered (the alias's model when asked through one)." })
  servedBy(@Root() value: HistoryRecommendationsValue, @Ctx() context: GraphQLContext): Promise<TrainedModel> {
    return servedBy(context, value.modelId);
  }

  @FieldResolver(() => RecommendationSourceEnum)
  source(@Root() value: HistoryRecommendationsValue): RecommendationSourceEnum {
    return value.reading.source as RecommendationSourceEnum;
  }

  @FieldResolver(() => [String])
  unknownItemIds(@Root() value: HistoryRecommendationsValue): ReadonlyArray<string> {
    return value.reading.unknownItemIds;
  }

  @FieldResolver(() => Int)
  knownItemCount(@Root() value: HistoryRecommendationsValue): number {
    return value.reading.knownItems.length;
  }

  @FieldResolver(() => [String])
  knownWords(@Root() value: HistoryRecommendationsValue): ReadonlyArray<string> {
    return value.reading.knownWords;
  }

  @FieldResolver(() => Int)
  unknownTokenCount(@Root() value: HistoryRecommendationsValue): number {
    return value.reading.unknownTokens;
  }

  @FieldResolver(() => [RecommendationType], { description: "The top-k items, best first, each with its explanation on request (as a user's recommendations give them)." })
  recommendations(@Root() value: HistoryRecommendationsValue): RankedItemValue[] {
    return value.recommendations;
  }

  @FieldResolver(() => [WordProbabilityType], {
    nullable: true,
    complexity: wordListComplexity,
    description: "click2review: the k most probable words of p(w|u) decoded from the known clicks; null when no clicked item is known (text alone). Needs a model with a word model.",
  })
  async topWords(
    @Root() value: HistoryRecommendationsValue,
    @Ctx() context: GraphQLContext,
    @Arg("k", () => Int, { defaultValue: DEFAULT_K, description: `How many words, 1 to ${MAX_K}.` }) k: number,
  ): Promise<WordProbabilityType[] | null> {
    checkK(k);
    if (value.reading.knownItems.length === 0) return null;
    const { vocabulary } = value.reading.view.matrices;
    const [distribution] = await predictionOf(context).services.inference.whatIf({
      modelId: value.modelId,
      reading: value.reading,
      run: (served, view) => served.wordDistributions({ dataset: view, rows: [0] }),
    });
    return Array.from(topK({ scores: distribution, k }), (w) => ({ word: vocabulary[w], probability: distribution[w] }));
  }

  @FieldResolver(() => Float, {
    nullable: true,
    description: "Capacity ĉu = KL(q(z|x_u) ‖ N(0, I)) of the known clicks, in nats; null when no clicked item is known (text alone). Not defined for a popularity model (BAD_USER_INPUT).",
  })
  async capacity(@Root() value: HistoryRecommendationsValue, @Ctx() context: GraphQLContext): Promise<number | null> {
    if (value.reading.knownItems.length === 0) return null;
    const [capacity] = await predictionOf(context).services.inference.whatIf({
      modelId: value.modelId,
      reading: value.reading,
      run: (served, view) => served.capacity({ dataset: view, rows: [0] }),
    });
    return capacity;
  }
}
