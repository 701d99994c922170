import { Field, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { createConnectionType } from "./connection.ts";

/**
 * A user of a dataset. Resolvers return the User entity (src/db/entities/user.entity.ts) as its value,
 * so field resolvers added elsewhere (`@Resolver(() => UserType)`) receive that entity as root.
 */
@ObjectType("User", { description: "A user kept by preprocessing, with activity counts per split." })
export class UserType {
  @Field(() => ID, { description: "Internal id (unique across datasets)." })
  id: number;

  @Field(() => String, { description: "The id in the source data (reviewerID, user_id…), unique within the dataset." })
  externalId: string;

  @Field(() => Int, { description: "Row of the user in the dataset's matrices." })
  rowIndex: number;

  @Field(() => Int, {
    description: "Activity: the user's clicks in the training split (what the users filter and cohorts use).",
  })
  trainClickCount: number;

  @Field(() => Int)
  validationClickCount: number;

  @Field(() => Int)
  testClickCount: number;

  @Field(() => Int, { description: "Reviews and texts of the user." })
  reviewCount: number;

  @Field(() => Int, { description: "Word occurrences in the user's bag of words (after the leakage rule)." })
  wordCount: number;

  @Field(() => String, { nullable: true, description: "Display name from a users metadata file (vcm metadata --users); null until one is attached." })
  name: string | null;
}

/** Orderings of a dataset's users. */
export enum UserOrder {
  ID = "ID",
  ACTIVITY = "ACTIVITY",
}
registerEnumType(UserOrder, {
  name: "UserOrder",
  description: "ID: by internal id. ACTIVITY: by training clicks, ties broken by id.",
});

/** Sort direction of an ordering. */
export enum SortDirection {
  ASC = "ASC",
  DESC = "DESC",
}
registerEnumType(SortDirection, { name: "SortDirection" });

export const UserConnection = createConnectionType("User", UserType);
