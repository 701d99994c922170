import { Ctx, FieldResolver, Resolver, Root } from "type-graphql";
import type { Item } from "../../db/entities/item.entity.ts";
import type { Review } from "../../db/entities/review.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import type { GraphQLContext } from "../context.ts";
import { ItemType } from "../types/item.type.ts";
import { ReviewType } from "../types/review.type.ts";
import { UserType } from "../types/user.type.ts";
import { requireLoaded } from "./lookup.ts";

@Resolver(() => ReviewType)
export class ReviewResolver {
  @FieldResolver(() => UserType, { description: "Who wrote it." })
  async user(@Root() review: Review, @Ctx() context: GraphQLContext): Promise<User> {
    return requireLoaded(context.loaders.userById.load(review.userId), `user ${review.userId}`);
  }

  @FieldResolver(() => ItemType, {
    nullable: true,
    description: "The item reviewed; null for text attached to no kept item (profiles, tags, filtered items).",
  })
  async item(@Root() review: Review, @Ctx() context: GraphQLContext): Promise<Item | null> {
    return review.itemId === null
      ? null
      : requireLoaded(context.loaders.itemById.load(review.itemId), `item ${review.itemId}`);
  }
}
