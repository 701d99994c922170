/**
 * The executable schema: every resolver class of the API, listed explicitly. A new resolver file
 * adds its class to `resolvers` below; `npm run schema` then rewrites schema/schema.graphql.
 */
import "reflect-metadata";
import { fileURLToPath } from "node:url";
import type { GraphQLSchema } from "graphql";
import { buildSchema, type NonEmptyArray } from "type-graphql";
import { adminAuthChecker } from "./auth.ts";
import { AppendResolver } from "./resolvers/append.resolver.ts";
import { ClickResolver } from "./resolvers/click.resolver.ts";
import { DatasetResolver } from "./resolvers/dataset.resolver.ts";
import { ItemResolver } from "./resolvers/item.resolver.ts";
import { ModelResolver } from "./resolvers/model.resolver.ts";
import { ExperimentResolver } from "./resolvers/experiment.resolver.ts";
import { HighlightResolver } from "./resolvers/highlight.resolver.ts";
import { ReviewResolver } from "./resolvers/review.resolver.ts";
import { UserResolver } from "./resolvers/user.resolver.ts";
import { CohortResolver } from "./resolvers/cohort.resolver.ts";
import {
  HistoryRecommendationResolver,
  PredictionResolver,
  RankedItemResolver,
  ExplanationClickResolver,
  RecommendationResolver,
  TextRecommendationResolver,
} from "./resolvers/prediction.resolver.ts";
import { TrainingJobResolver } from "./resolvers/training-job.resolver.ts";
import { ModelAliasResolver, UserServedByResolver } from "./resolvers/model-alias.resolver.ts";
import { ModelComparisonResolver } from "./resolvers/model-comparison.resolver.ts";
import { ItemAudienceUserResolver, ItemInsightsResolver, ItemReasonClickResolver } from "./resolvers/item-insights.resolver.ts";
import { createEventBus } from "../services/events.ts";

/** Every resolver class of the API; append new ones at the end. */
export const resolvers: NonEmptyArray<Function> = [
  DatasetResolver,
  UserResolver,
  ItemResolver,
  ReviewResolver,
  HighlightResolver,
  ExperimentResolver,
  ClickResolver,
  ModelResolver,
  PredictionResolver,
  RecommendationResolver,
  RankedItemResolver,
  TextRecommendationResolver,
  CohortResolver,
  TrainingJobResolver,
  HistoryRecommendationResolver,
  AppendResolver,
  ExplanationClickResolver,
  ModelAliasResolver,
  UserServedByResolver,
  ModelComparisonResolver,
  ItemInsightsResolver,
  ItemAudienceUserResolver,
  ItemReasonClickResolver,
];

/** The committed SDL file that the drift test compares with. */
export const SCHEMA_FILE = fileURLToPath(new URL("../../schema/schema.graphql", import.meta.url));

/**
 * Builds the schema; with `emitSchemaFile` it also writes the SDL there (sorted, as type-graphql prints it).
 * type-graphql asks for a PubSub, which nothing publishes to: the subscription brings its own stream
 * (services/job-updates.ts).
 */
export async function buildVcmSchema(options: { emitSchemaFile?: string } = {}): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    pubSub: createEventBus(),
    authChecker: adminAuthChecker,
    validate: false,
    emitSchemaFile: options.emitSchemaFile === undefined ? false : { path: options.emitSchemaFile, sortedSchema: true },
  });
}
