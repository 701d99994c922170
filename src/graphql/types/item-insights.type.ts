import { Field, Float, Int, ObjectType } from "type-graphql";
import { ITEM_WORD_SMOOTHING } from "../../engine/explanation-rules.ts";

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
