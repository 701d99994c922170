import { GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, InputType, Int, ObjectType } from "type-graphql";

/** One record of `appendInteractions`: a click or rating, with an optional review text. */
@InputType("AppendRecordInput", { description: "One interaction to append: a user, an item, and optionally a rating, a review text and a time." })
export class AppendRecordInput {
  @Field(() => String, { description: "The user's external id; a user the dataset does not have is added by a click." })
  user: string;

  @Field(() => String, { description: "The item's external id; an item the dataset does not have is added by a click." })
  item: string;

  @Field(() => Float, { nullable: true, description: "The rating; the record is a click when it is absent or at least the dataset's rating threshold (its ingest's --min-rating)." })
  rating?: number | null;

  @Field(() => String, { nullable: true, description: "A review text, stored with the record; its words in the dataset's vocabulary join the user's bag of words (the vocabulary never grows)." })
  text?: string | null;

  @Field(() => Float, { nullable: true, description: "When it happened, Unix time in seconds." })
  time?: number | null;
}

/** What `appendInteractions` did; its value is the service's AppendSummary. */
@ObjectType("AppendResult", { description: "What an append added to a dataset, what it left out and why, and the dataset's version after it." })
export class AppendResultType {
  @Field(() => String, { description: "The dataset appended to." })
  dataset: string;

  @Field(() => ID)
  datasetId: number;

  @Field(() => Int, { description: "The dataset's version after the append; the same as previousVersion when nothing was added." })
  version: number;

  @Field(() => Int)
  previousVersion: number;

  @Field(() => Boolean, { description: "Whether anything was added (users, items, clicks or reviews)." })
  added: boolean;

  @Field(() => String, { description: "One sentence: what was added, or that nothing was and why." })
  message: string;

  @Field(() => Int, { description: "Users the dataset did not have, added at the next matrix rows." })
  usersAdded: number;

  @Field(() => Int, { description: "Items the dataset did not have, added at the next matrix columns." })
  itemsAdded: number;

  @Field(() => Int, { description: "New clicks, all in the training split." })
  clicksAdded: number;

  @Field(() => Int, { description: "Clicks of (user, item) pairs the dataset already had, or that the call repeated: nothing changes for them." })
  clicksAlreadyPresent: number;

  @Field(() => Int, { description: "Review texts stored." })
  reviewsAdded: number;

  @Field(() => Int, { description: "Review texts the user already had about the same item at the same time (or that the call repeated), with the same text: not stored again, their words not counted again." })
  reviewsAlreadyPresent: number;

  @Field(() => Int, { description: "Word occurrences added to users' bags of words (not for a review of one of the user's validation or test items)." })
  wordsAdded: number;

  @Field(() => Int, { description: "Word occurrences outside the dataset's vocabulary: counted, not added." })
  unknownWords: number;

  @Field(() => Int, { description: "Ratings under the dataset's rating threshold: not clicks (their texts are still stored for users the dataset has)." })
  notClicks: number;

  @Field(() => Int, { description: "Users whose clicks, reviews or words changed (new users included)." })
  changedUsers: number;

  @Field(() => Int, { description: "Records in the call." })
  recordsRead: number;

  @Field(() => GraphQLJSONObject, { description: "Records skipped, per reason (missingUserId, missingItemId, ratingNotANumber, newUserWithoutClick)." })
  skipped: Record<string, number>;

  @Field(() => Int, { description: "Texts cut at the longest review length an ingest keeps." })
  truncated: number;
}
