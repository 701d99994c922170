import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from "type-graphql";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { Item } from "../../db/entities/item.entity.ts";
import type { Review } from "../../db/entities/review.entity.ts";
import { invariant } from "../../errors.ts";
import type { GraphQLContext } from "../context.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../limits.ts";
import { connectionComplexity, type ConnectionValue } from "../types/connection.ts";
import { DatasetType } from "../types/dataset.type.ts";
import { ItemType } from "../types/item.type.ts";
import { ReviewConnection } from "../types/review.type.ts";
import { requireItem } from "./lookup.ts";
import { idOrderedPage } from "./paging.ts";

@Resolver(() => ItemType)
export class ItemResolver {
  @Query(() => ItemType, {
    description: "One item, by id or by dataset name plus externalId. NOT_FOUND when absent.",
  })
  async item(
    @Ctx() context: GraphQLContext,
    @Arg("id", () => ID, { nullable: true }) id: string | null,
    @Arg("dataset", () => String, { nullable: true, description: "Dataset name (with externalId)." }) dataset: string | null,
    @Arg("externalId", () => String, { nullable: true }) externalId: string | null,
  ): Promise<Item> {
    return requireItem(context, { id, dataset, externalId });
  }

  @FieldResolver(() => [String], { description: "Categories or tags from the metadata, in the source's order; empty without metadata." })
  categories(@Root() item: Item): string[] {
    return item.categories ?? [];
  }

  @FieldResolver(() => DatasetType)
  async dataset(@Root() item: Item, @Ctx() context: GraphQLContext): Promise<Dataset> {
    const dataset = await context.loaders.datasetById.load(item.datasetId);
    invariant(dataset !== null, `item ${item.id} belongs to dataset ${item.datasetId}`);
    return dataset;
  }

  @FieldResolver(() => ReviewConnection, {
    complexity: connectionComplexity,
    description: "Reviews written about the item, oldest row first.",
  })
  async reviews(
    @Root() item: Item,
    @Ctx() context: GraphQLContext,
    @Arg("first", () => Int, { defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 0 to ${MAX_PAGE_SIZE}.` })
    first: number,
    @Arg("after", () => String, { nullable: true }) after: string | null,
  ): Promise<ConnectionValue<Review>> {
    return idOrderedPage({
      ordering: "item-reviews",
      first,
      after,
      load: (page) => context.loaders.reviewsOfItem.load({ parentId: item.id, ...page }),
      count: () => context.loaders.reviewCountOfItem.load(item.id),
    });
  }
}
