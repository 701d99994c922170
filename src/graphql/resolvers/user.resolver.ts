import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from "type-graphql";
import type { Click, ClickSplit } from "../../db/entities/click.entity.ts";
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { Review } from "../../db/entities/review.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import { ErrorCode, UserError, invariant } from "../../errors.ts";
import type { GraphQLContext } from "../context.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../limits.ts";
import { ClickConnection, SplitEnum } from "../types/click.type.ts";
import { connectionComplexity, type ConnectionValue } from "../types/connection.ts";
import { DatasetType } from "../types/dataset.type.ts";
import { ReviewConnection } from "../types/review.type.ts";
import { UserType } from "../types/user.type.ts";
import { requireUser } from "./lookup.ts";
import { idOrderedPage } from "./paging.ts";

@Resolver(() => UserType)
export class UserResolver {
  @Query(() => UserType, {
    description: "One user, by id or by dataset name plus externalId. NOT_FOUND when absent.",
  })
  async user(
    @Ctx() context: GraphQLContext,
    @Arg("id", () => ID, { nullable: true }) id: string | null,
    @Arg("dataset", () => String, { nullable: true, description: "Dataset name (with externalId)." }) dataset: string | null,
    @Arg("externalId", () => String, { nullable: true }) externalId: string | null,
  ): Promise<User> {
    return requireUser(context, { id, dataset, externalId });
  }

  @FieldResolver(() => DatasetType)
  async dataset(@Root() user: User, @Ctx() context: GraphQLContext): Promise<Dataset> {
    const dataset = await context.loaders.datasetById.load(user.datasetId);
    invariant(dataset !== null, `user ${user.id} belongs to dataset ${user.datasetId}`);
    return dataset;
  }

  @FieldResolver(() => Int, { description: "Clicks over all three splits." })
  clickCount(@Root() user: User): number {
    return user.trainClickCount + user.validationClickCount + user.testClickCount;
  }

  @FieldResolver(() => ReviewConnection, {
    complexity: connectionComplexity,
    description: "The user's reviews and texts, oldest row first.",
  })
  async reviews(
    @Root() user: User,
    @Ctx() context: GraphQLContext,
    @Arg("first", () => Int, { defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 0 to ${MAX_PAGE_SIZE}.` })
    first: number,
    @Arg("after", () => String, { nullable: true }) after: string | null,
  ): Promise<ConnectionValue<Review>> {
    return idOrderedPage({
      ordering: "user-reviews",
      first,
      after,
      load: (page) => context.loaders.reviewsOfUser.load({ parentId: user.id, ...page }),
      count: () => context.loaders.reviewCountOfUser.load(user.id),
    });
  }

  @FieldResolver(() => ClickConnection, {
    complexity: connectionComplexity,
    description: "The user's clicks, optionally only those of some splits.",
  })
  async clicks(
    @Root() user: User,
    @Ctx() context: GraphQLContext,
    @Arg("first", () => Int, { defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 0 to ${MAX_PAGE_SIZE}.` })
    first: number,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @Arg("split", () => [SplitEnum], { nullable: true, description: "Only clicks of these splits (all when omitted)." })
    split: ClickSplit[] | null,
  ): Promise<ConnectionValue<Click>> {
    if (split != null && split.length === 0) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, "split is an empty list; omit it for all splits or name at least one.");
    }
    const splits = split == null ? null : [...new Set(split)].sort();
    return idOrderedPage({
      ordering: `user-clicks:${splits?.join(",") ?? "*"}`,
      first,
      after,
      load: (page) => context.loaders.clicksOfUser.load({ parentId: user.id, splits, ...page }),
      count: () => context.loaders.clickCountOfUser.load({ parentId: user.id, splits }),
    });
  }
}
