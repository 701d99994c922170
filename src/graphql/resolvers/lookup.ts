/**
 * Argument parsing and "find or NOT_FOUND" helpers shared by the browse resolvers (and open to the
 * prediction resolvers: they resolve users, items, datasets and models the same way).
 */
import type { Dataset } from "../../db/entities/dataset.entity.ts";
import type { Item } from "../../db/entities/item.entity.ts";
import type { TrainedModel } from "../../db/entities/trained-model.entity.ts";
import type { User } from "../../db/entities/user.entity.ts";
import { ErrorCode, UserError, invariant } from "../../errors.ts";
import type { GraphQLContext } from "../context.ts";

/** Parses a GraphQL ID argument into a database id, or answers BAD_USER_INPUT. */
export function parseId(value: string | number, what: string): number {
  const id = typeof value === "number" ? value : /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${what} id "${value}" is not valid; ids are positive integers.`);
  }
  return id;
}

/** Checks an optional inclusive [min, max] range of counts. */
export function checkCountRange(options: { min: number | null | undefined; max: number | null | undefined; what: string }): {
  min: number | null;
  max: number | null;
} {
  const min = options.min ?? null;
  const max = options.max ?? null;
  for (const [name, value] of [
    [`min${options.what}`, min],
    [`max${options.what}`, max],
  ] as const) {
    if (value !== null && value < 0) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} must be 0 or more, got ${value}.`);
    }
  }
  if (min !== null && max !== null && min > max) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `min${options.what} (${min}) is greater than max${options.what} (${max}); no row could match.`,
    );
  }
  return { min, max };
}

/** Finds a dataset by exactly one of id or name, or answers NOT_FOUND / BAD_USER_INPUT. */
export async function requireDataset(
  context: GraphQLContext,
  by: { id?: string | number | null; name?: string | null },
): Promise<Dataset> {
  const hasId = by.id !== undefined && by.id !== null;
  const hasName = by.name !== undefined && by.name !== null;
  if (hasId === hasName) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "Give a dataset either by id or by name (exactly one of the two).");
  }
  const dataset = hasId
    ? await context.loaders.datasetById.load(parseId(by.id!, "Dataset"))
    : await context.loaders.datasetByName.load(by.name!);
  if (dataset === null) {
    throw new UserError(
      ErrorCode.NOT_FOUND,
      hasId
        ? `No dataset has id ${by.id}; the query \`datasets { id name }\` lists them.`
        : `No dataset is named "${by.name}"; the query \`datasets { id name }\` lists them.`,
    );
  }
  return dataset;
}

/** Finds a user by id, or by dataset name plus external id, or answers NOT_FOUND / BAD_USER_INPUT. */
export async function requireUser(
  context: GraphQLContext,
  by: { id?: string | number | null; dataset?: string | null; externalId?: string | null },
): Promise<User> {
  return requireMember({ context, by, what: "user", byId: context.loaders.userById, byExternal: context.loaders.userByExternalId });
}

/** Finds an item by id, or by dataset name plus external id, or answers NOT_FOUND / BAD_USER_INPUT. */
export async function requireItem(
  context: GraphQLContext,
  by: { id?: string | number | null; dataset?: string | null; externalId?: string | null },
): Promise<Item> {
  return requireMember({ context, by, what: "item", byId: context.loaders.itemById, byExternal: context.loaders.itemByExternalId });
}

/** Finds a trained model by id, or answers NOT_FOUND. */
export async function requireModel(context: GraphQLContext, id: string | number): Promise<TrainedModel> {
  const model = await context.loaders.modelById.load(parseId(id, "Model"));
  if (model === null) {
    throw new UserError(ErrorCode.NOT_FOUND, `No trained model has id ${id}; the query \`models { id variant }\` lists them.`);
  }
  return model;
}

async function requireMember<T>(options: {
  context: GraphQLContext;
  by: { id?: string | number | null; dataset?: string | null; externalId?: string | null };
  what: "user" | "item";
  byId: { load(id: number): Promise<T | null> };
  byExternal: { load(key: { datasetId: number; externalId: string }): Promise<T | null> };
}): Promise<T> {
  const { context, by, what, byId, byExternal } = options;
  const hasId = by.id !== undefined && by.id !== null;
  const hasExternal = by.externalId !== undefined && by.externalId !== null;
  if (hasId === hasExternal || (hasExternal && (by.dataset === undefined || by.dataset === null))) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Give a ${what} either by id, or by dataset and externalId (not both, not neither).`,
    );
  }
  if (hasId) {
    const found = await byId.load(parseId(by.id!, what === "user" ? "User" : "Item"));
    if (found === null) throw new UserError(ErrorCode.NOT_FOUND, `No ${what} has id ${by.id}.`);
    return found;
  }
  const dataset = await requireDataset(context, { name: by.dataset });
  const found = await byExternal.load({ datasetId: dataset.id, externalId: by.externalId! });
  if (found === null) {
    throw new UserError(ErrorCode.NOT_FOUND, `Dataset "${dataset.name}" has no ${what} with external id "${by.externalId}".`);
  }
  return found;
}

/** Loads a row that a foreign key guarantees, through the request's loader (absent = a bug). */
export async function requireLoaded<T>(loaded: Promise<T | null>, what: string): Promise<T> {
  const row = await loaded;
  invariant(row !== null, `${what} exists (foreign key)`);
  return row;
}
