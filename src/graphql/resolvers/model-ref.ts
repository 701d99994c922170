/**
 * How every field that serves a model reads its model: `modelId` (an id), or `model` (an id or a model
 * alias of the dataset, src/services/model-aliases.ts), exactly one of the two. Through an alias with a
 * candidate, the user's stable split point picks the arm; questions without a user get the alias's model.
 */
import type { User } from "../../db/entities/user.entity.ts";
import { ErrorCode, UserError, invariant } from "../../errors.ts";
import type { ResolvedAlias } from "../../services/model-aliases.ts";
import type { LoadedModel } from "../../services/served-model.ts";
import { armOf } from "../../services/model-aliases.ts";
import type { GraphQLContext } from "../context.ts";
import type { PredictionContextPart } from "../prediction-loaders.ts";
import { parseId } from "./lookup.ts";

/** The description of every `model` argument. */
export const MODEL_ARGUMENT_DESCRIPTION =
  'A model id, or a model alias of the dataset (setModelAlias), e.g. "production"; give this or modelId. Through an alias with a candidate, a stable share of users gets the candidate; servedBy says which model answered.';
/** The description of every `modelId` argument (now optional beside `model`). */
export const MODEL_ID_ARGUMENT_DESCRIPTION = "A READY model's id; give this or model.";
/** The description of the `dataset` argument of fields without a user, for an alias name that several datasets have. */
export const ALIAS_DATASET_ARGUMENT_DESCRIPTION = "With model naming an alias: the dataset whose alias it is (needed only when several datasets have an alias of that name).";

function servicesOf(context: GraphQLContext): PredictionContextPart["services"] {
  invariant(context.prediction !== undefined, "the server was built with prediction services");
  return context.prediction.services;
}

/** The model a field asked for, and the alias it came through (null for an id). */
export interface ModelChoice {
  readonly modelId: number;
  readonly alias: ResolvedAlias | null;
}

/** Reads `modelId` / `model` into a model id: BAD_USER_INPUT unless exactly one is given; NOT_FOUND for an unknown alias. */
export async function chooseModel(
  context: GraphQLContext,
  options: { modelId?: string | null; model?: string | null; user?: User | null; datasetName?: string | null },
): Promise<ModelChoice> {
  const { modelId, model } = options;
  if ((modelId == null) === (model == null)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, 'Give a model either by modelId or by model (an id or an alias such as "production"), exactly one of the two.');
  }
  if (modelId != null) return { modelId: parseId(modelId, "Model"), alias: null };
  const text = model!.trim();
  if (/^\d+$/.test(text)) return { modelId: parseId(text, "Model"), alias: null };
  const user = options.user ?? null;
  const alias = await servicesOf(context).aliases.resolve({ name: text, datasetId: user?.datasetId ?? null, datasetName: options.datasetName ?? null });
  return { modelId: armOf(alias, user?.externalId ?? null).modelId, alias };
}

/**
 * Loads the chosen model for serving. A model an alias names that is gone or no longer READY answers
 * NOT_FOUND with the alias in the sentence (an id answers as before: NOT_FOUND or MODEL_NOT_READY).
 */
export async function loadChosen(context: GraphQLContext, choice: ModelChoice): Promise<LoadedModel> {
  try {
    return await servicesOf(context).inference.model(choice.modelId);
  } catch (error) {
    if (choice.alias === null || !(error instanceof UserError) || (error.code !== ErrorCode.NOT_FOUND && error.code !== ErrorCode.MODEL_NOT_READY)) throw error;
    throw new UserError(
      ErrorCode.NOT_FOUND,
      `Alias "${choice.alias.name}" of dataset "${choice.alias.datasetName}" names model ${choice.modelId}, which is not a READY model any more; point the alias at another with setModelAlias (or vcm alias set).`,
    );
  }
}
