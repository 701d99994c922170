import { Field, Float, ID, Int, ObjectType } from "type-graphql";
import { createConnectionType } from "./connection.ts";

/** A review or other text; resolvers return the Review entity (src/db/entities/review.entity.ts). */
@ObjectType("Review", { description: "A review or other text written by a user." })
export class ReviewType {
  @Field(() => ID)
  id: number;

  @Field(() => Float, { nullable: true, description: "The rating given with the text, when the source has one." })
  rating: number | null;

  @Field(() => String)
  text: string;

  @Field(() => String, { nullable: true })
  summary: string | null;

  @Field(() => Int, { nullable: true, description: "Unix time in seconds, when the source gives one." })
  time: number | null;
}

export const ReviewConnection = createConnectionType("Review", ReviewType);
