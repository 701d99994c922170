import { GraphQLDateTimeISO, GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, Int, ObjectType } from "type-graphql";

/**
 * An ingested dataset; its statistics hang under `statistics`. Resolvers return the Dataset entity
 * (src/db/entities/dataset.entity.ts) as its value.
 */
@ObjectType("Dataset", { description: "An ingested dataset with the paper's Table 1 statistics (after preprocessing)." })
export class DatasetType {
  @Field(() => ID)
  id: number;

  @Field(() => String, { description: "Unique name, as given to `vcm ingest --dataset` or `vcm generate`." })
  name: string;

  @Field(() => String, { description: "Where it came from: amazon, yelp, tsv or generated." })
  source: string;

  @Field(() => Int, { description: "1 after the ingest, one more for each append (`appendInteractions`, `vcm ingest --append`) that added something; a model's datasetVersion says which version it was trained on." })
  version: number;

  @Field(() => GraphQLJSONObject, { description: "Preprocessing options used (min rating, filters, vocabulary size, seed…)." })
  options: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { description: "Malformed input records skipped at ingest, counted per reason." })
  skipped: Record<string, number>;

  @Field(() => GraphQLDateTimeISO)
  createdAt: Date;
}

/**
 * The paper's Table 1 for one dataset, plus vocabulary and split sizes. Its value is the Dataset
 * entity too (the `statistics` field returns the dataset itself).
 */
@ObjectType("DatasetStatistics", {
  description: "Table 1 of the paper (users, items, interactions, sparsity) plus vocabulary and split sizes.",
})
export class DatasetStatisticsType {
  @Field(() => Int, { name: "users", description: "Users kept by preprocessing." })
  userCount: number;

  @Field(() => Int, { name: "items", description: "Items kept by preprocessing." })
  itemCount: number;

  @Field(() => Int, { name: "interactions", description: "Distinct (user, item) clicks, all splits together." })
  clickCount: number;

  @Field(() => Float, { description: "1 − interactions / (users × items)." })
  sparsity: number;

  @Field(() => Int, { description: "Words in the bag-of-words vocabulary." })
  vocabularySize: number;

  @Field(() => Int, { name: "trainClicks", description: "Clicks in the training split (≈ 60 % of each user's)." })
  trainClickCount: number;

  @Field(() => Int, { name: "validationClicks", description: "Clicks in the validation split (≈ 20 %)." })
  validationClickCount: number;

  @Field(() => Int, { name: "testClicks", description: "Clicks in the test split (≈ 20 %)." })
  testClickCount: number;

  @Field(() => Int, { name: "reviews", description: "Reviews and other texts stored for the kept users." })
  reviewCount: number;

}
