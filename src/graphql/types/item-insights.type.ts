import { Field, Float, Int, ObjectType } from "type-graphql";
import { ITEM_WORD_SMOOTHING } from "../../engine/explanation-rules.ts";
import { AUDIENCE_DEPTH } from "../../services/item-audience.ts";

/** One word of Item.characteristicWords. */
@ObjectType("ItemWord", { description: "A word of an item's reviews with how much more they use it than the corpus does." })
export class ItemWordType {
  @Field(() => String)
  word: string;

  @Field(() => Float, {
    description: `lift(w, i) = P(w|i) / P(w): P(w|i) Dirichlet-smoothed with ${ITEM_WORD_SMOOTHING} tokens of corpus mass, P(w) add-one smoothed over all reviews, exactly as explanations compute it (above 1: the item's reviews over-use the word).`,
  })
  lift: number;

  @Field(() => Int, { description: "Occurrences of the word in the item's reviews (vocabulary words after tokenising, as the lift counts them)." })
  count: number;
}

/** Value of ItemAudienceUser: the user is loaded by its external id. */
export interface ItemAudienceUserValue {
  readonly datasetId: number;
  readonly externalId: string;
  readonly rank: number;
  readonly score: number;
}

/** One user of Item.recommendedTo. */
@ObjectType("ItemAudienceUser", { description: "A user to whom the model recommends the item, with the item's place in that user's recommendations." })
export class ItemAudienceUserType {
  @Field(() => Int, { description: "The item's 1-based rank in the user's recommendations (training clicks excluded)." })
  rank: number;

  @Field(() => Float, { description: "The item's score for the user (the softmax probability π_ui), as the user's recommendations give it." })
  score: number;
}

/** A word of the aggregated reasons. */
@ObjectType("ItemReasonWord", { description: "A word of the listed users' explanations of the item." })
export class ItemReasonWordType {
  @Field(() => String)
  word: string;

  @Field(() => Int, { description: "Listed users whose explanation holds the word." })
  users: number;

  @Field(() => Float, { description: "The word's mean weight in those users' explanations." })
  meanWeight: number;
}

/** Value of ItemReasonClick: the clicked item is loaded by its column. */
export interface ItemReasonClickValue {
  readonly datasetId: number;
  /** Column of the clicked item. */
  readonly item: number;
  readonly users: number;
  readonly meanEffect: number;
}

/** A clicked item of the aggregated reasons. */
@ObjectType("ItemReasonClick", { description: "A clicked item of the listed users' explanations of the item: a click their scores rest on." })
export class ItemReasonClickType {
  @Field(() => Int, { description: "Listed users whose explanation holds the click." })
  users: number;

  @Field(() => Float, { description: "The click's mean effect δ(j) (the relative fall of the item's score without it) in those users' explanations." })
  meanEffect: number;
}

/** The aggregated reasons of Item.recommendedTo. */
@ObjectType("ItemReasons", {
  description: "The listed users' default explanations of the item (as Recommendation.explanation gives them without arguments: its words and its clicks), aggregated.",
})
export class ItemReasonsType {
  @Field(() => [ItemReasonWordType], { description: "Every word of those explanations, by users carrying it, then mean weight, largest first." })
  words: ItemReasonWordType[];

  @Field(() => [ItemReasonClickType], { description: "Every click of those explanations, by users carrying it, then mean effect, largest first." })
  clicks: ItemReasonClickValue[];

  @Field(() => Int, { description: "Listed users whose explanation holds neither a word nor a click." })
  unexplained: number;
}

/** The answer of Item.recommendedTo. */
@ObjectType("ItemAudience", { description: "The users to whom a model recommends an item most, and why." })
export class ItemAudienceType {
  @Field(() => [ItemAudienceUserType], { description: `Up to k users whose top ${AUDIENCE_DEPTH} holds the item, best rank first, then higher score (users who clicked it in training never hold it).` })
  users: ItemAudienceUserValue[];

  @Field(() => Int, { description: `Users whose top ${AUDIENCE_DEPTH} holds the item.` })
  candidates: number;

  @Field(() => Int, { description: "Users ranked: every user of the dataset when the model's pass was made." })
  usersScored: number;

  @Field(() => ItemReasonsType)
  reasons: ItemReasonsType;
}
