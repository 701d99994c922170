import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from "type-graphql";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { Item } from "../../db/entities/item.entity.ts";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import { ErrorCode, UserError } from "../../errors.ts";
import type { GraphQLContext } from "../context.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../limits.ts";
import { connectionComplexity, type ConnectionValue } from "../types/connection.ts";
import { DatasetStatisticsType, DatasetType } from "../types/dataset.type.ts";
import { ItemConnection, ItemOrder, ItemType } from "../types/item.type.ts";
import { TrainedModelType } from "../types/trained-model.type.ts";
import { SortDirection, UserConnection, UserOrder, UserType } from "../types/user.type.ts";
import { checkCountRange, requireDataset, requireItem, requireUser } from "./lookup.ts";
import { rankedPage } from "./paging.ts";

const FIRST_DESCRIPTION = `Page size, 0 to ${MAX_PAGE_SIZE}.`;
const AFTER_DESCRIPTION = "The endCursor of the previous page (opaque).";


/** Longest search text accepted, in characters. */
const MAX_SEARCH_LENGTH = 200;

function SEARCH_DESCRIPTION(field: "title" | "name"): string {
  return `Only rows whose external id or ${field} contains this text (case-insensitive for ASCII letters), at most ${MAX_SEARCH_LENGTH} characters.`;
}

/** The search text trimmed (null when empty), or BAD_USER_INPUT when it is too long. */
function checkSearch(search: string | null): string | null {
  const text = search?.trim() ?? "";
  if ([...text].length > MAX_SEARCH_LENGTH) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `search is ${[...text].length} characters long; at most ${MAX_SEARCH_LENGTH} are allowed.`);
  }
  return text === "" ? null : text;
}
@Resolver(() => DatasetType)
export class DatasetResolver {
  @Query(() => [DatasetType], { description: "Every ingested dataset with its Table 1 statistics." })
  async datasets(@Ctx() context: GraphQLContext): Promise<Dataset[]> {
    return context.catalog.listDatasets();
  }

  @Query(() => DatasetType, { description: "One dataset, by id or by name (exactly one). NOT_FOUND when absent." })
  async dataset(
    @Arg("id", () => ID, { nullable: true }) id: string | null,
    @Arg("name", () => String, { nullable: true }) name: string | null,
    @Ctx() context: GraphQLContext,
  ): Promise<Dataset> {
    return requireDataset(context, { id, name });
  }

  @FieldResolver(() => DatasetStatisticsType, { description: "Table 1 statistics, counted after preprocessing." })
  statistics(@Root() dataset: Dataset): Dataset {
    return dataset;
  }

  @FieldResolver(() => UserConnection, {
    complexity: connectionComplexity,
    description:
      "The dataset's users. Activity is the number of TRAINING clicks (what cohorts use); minActivity and " +
      "maxActivity bound it inclusively. orderBy ACTIVITY sorts by it, ties broken by id.",
  })
  async users(
    @Root() dataset: Dataset,
    @Ctx() context: GraphQLContext,
    @Arg("first", () => Int, { defaultValue: DEFAULT_PAGE_SIZE, description: FIRST_DESCRIPTION }) first: number,
    @Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) after: string | null,
    @Arg("orderBy", () => UserOrder, { defaultValue: UserOrder.ID }) orderBy: UserOrder,
    @Arg("direction", () => SortDirection, { defaultValue: SortDirection.ASC }) direction: SortDirection,
    @Arg("minActivity", () => Int, { nullable: true, description: "Fewest training clicks (inclusive)." })
    minActivity: number | null,
    @Arg("maxActivity", () => Int, { nullable: true, description: "Most training clicks (inclusive)." })
    maxActivity: number | null,
    @Arg("search", () => String, { nullable: true, description: SEARCH_DESCRIPTION("name") }) search: string | null,
  ): Promise<ConnectionValue<User>> {
    const range = checkCountRange({ min: minActivity, max: maxActivity, what: "Activity" });
    const byCount = orderBy === UserOrder.ACTIVITY;
    const filter = { datasetId: dataset.id, minCount: range.min, maxCount: range.max, search: checkSearch(search) };
    return rankedPage({
      ordering: `users:${orderBy}:${direction}`,
      byCount,
      first,
      after,
      load: (page) =>
        context.catalog.pageUsers({
          ...filter,
          ...page,
          orderBy: byCount ? "count" : "id",
          descending: direction === SortDirection.DESC,
        }),
      count: () => context.catalog.countUsers(filter),
    });
  }

  @FieldResolver(() => ItemConnection, {
    complexity: connectionComplexity,
    description:
      "The dataset's items. Popularity is the number of training clicks; minPopularity and maxPopularity " +
      "bound it inclusively. orderBy POPULARITY sorts by it, ties broken by id.",
  })
  async items(
    @Root() dataset: Dataset,
    @Ctx() context: GraphQLContext,
    @Arg("first", () => Int, { defaultValue: DEFAULT_PAGE_SIZE, description: FIRST_DESCRIPTION }) first: number,
    @Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) after: string | null,
    @Arg("orderBy", () => ItemOrder, { defaultValue: ItemOrder.ID }) orderBy: ItemOrder,
    @Arg("direction", () => SortDirection, { defaultValue: SortDirection.ASC }) direction: SortDirection,
    @Arg("minPopularity", () => Int, { nullable: true }) minPopularity: number | null,
    @Arg("maxPopularity", () => Int, { nullable: true }) maxPopularity: number | null,
    @Arg("search", () => String, { nullable: true, description: SEARCH_DESCRIPTION("title") }) search: string | null,
  ): Promise<ConnectionValue<Item>> {
    const range = checkCountRange({ min: minPopularity, max: maxPopularity, what: "Popularity" });
    const byCount = orderBy === ItemOrder.POPULARITY;
    const filter = { datasetId: dataset.id, minCount: range.min, maxCount: range.max, search: checkSearch(search) };
    return rankedPage({
      ordering: `items:${orderBy}:${direction}`,
      byCount,
      first,
      after,
      load: (page) =>
        context.catalog.pageItems({
          ...filter,
          ...page,
          orderBy: byCount ? "count" : "id",
          descending: direction === SortDirection.DESC,
        }),
      count: () => context.catalog.countItems(filter),
    });
  }

  @FieldResolver(() => UserType, { description: "One user of this dataset by external id. NOT_FOUND when absent." })
  async user(
    @Root() dataset: Dataset,
    @Arg("externalId", () => String) externalId: string,
    @Ctx() context: GraphQLContext,
  ): Promise<User> {
    return requireUser(context, { dataset: dataset.name, externalId });
  }

  @FieldResolver(() => ItemType, { description: "One item of this dataset by external id. NOT_FOUND when absent." })
  async item(
    @Root() dataset: Dataset,
    @Arg("externalId", () => String) externalId: string,
    @Ctx() context: GraphQLContext,
  ): Promise<Item> {
    return requireItem(context, { dataset: dataset.name, externalId });
  }

  @FieldResolver(() => [TrainedModelType], { description: "Models trained on this dataset, newest first." })
  async models(@Root() dataset: Dataset, @Ctx() context: GraphQLContext): Promise<TrainedModel[]> {
    return context.loaders.modelsOfDataset.load(dataset.id);
  }
}
