import { Ctx, FieldResolver, Resolver, Root } from "type-graphql";
import type { Click } from "../../db/entities/click.entity.ts";
import type { Item } from "../../db/entities/item.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import type { GraphQLContext } from "../context.ts";
import { ClickType } from "../types/click.type.ts";
import { ItemType } from "../types/item.type.ts";
import { UserType } from "../types/user.type.ts";
import { requireLoaded } from "./lookup.ts";

@Resolver(() => ClickType)
export class ClickResolver {
  @FieldResolver(() => UserType)
  async user(@Root() click: Click, @Ctx() context: GraphQLContext): Promise<User> {
    return requireLoaded(context.loaders.userById.load(click.userId), `user ${click.userId}`);
  }

  @FieldResolver(() => ItemType)
  async item(@Root() click: Click, @Ctx() context: GraphQLContext): Promise<Item> {
    return requireLoaded(context.loaders.itemById.load(click.itemId), `item ${click.itemId}`);
  }
}
