/**
 * Per-request DataLoaders over the catalog service: every lookup by id, external id or parent made
 * while resolving one operation is batched into one statement per kind (per chunk of ids).
 */
import DataLoader from "dataloader";
import type { Click, ClickSplit } from "../db/entities/click.entity.ts";
import type { Dataset } from "../db/entities/dataset.entity.ts";
import type { Item } from "../db/entities/item.entity.ts";
import type { Review } from "../db/entities/review.entity.ts";
import type { TrainedModel } from "../db/entities/trained-model.entity.ts";
import type { User } from "../db/entities/user.entity.ts";
import type { CatalogService } from "../services/catalog-service.ts";

/** A lookup by external id inside one dataset. */
export interface ExternalKey {
  readonly datasetId: number;
  readonly externalId: string;
}

/** One parent's page of children: the same arguments for many parents batch into one statement. */
export interface ChildPageKey {
  readonly parentId: number;
  /** Rows wanted (the loader returns up to first + 1 so the caller can tell whether more follow). */
  readonly first: number;
  readonly afterId: number | null;
}

/** A page of a user's clicks, optionally restricted to some splits (null = all). */
export interface ClickPageKey extends ChildPageKey {
  readonly splits: ReadonlyArray<ClickSplit> | null;
}

/** The loaders of one request. Build a fresh set per request with createLoaders(). */
export interface Loaders {
  readonly datasetById: DataLoader<number, Dataset | null>;
  readonly datasetByName: DataLoader<string, Dataset | null>;
  readonly userById: DataLoader<number, User | null>;
  readonly itemById: DataLoader<number, Item | null>;
  readonly userByExternalId: DataLoader<ExternalKey, User | null, string>;
  readonly itemByExternalId: DataLoader<ExternalKey, Item | null, string>;
  readonly modelById: DataLoader<number, TrainedModel | null>;
  /** Models of a dataset, newest first. */
  readonly modelsOfDataset: DataLoader<number, TrainedModel[]>;
  /** Up to first + 1 clicks of a user, by id. */
  readonly clicksOfUser: DataLoader<ClickPageKey, Click[], string>;
  readonly clickCountOfUser: DataLoader<{ parentId: number; splits: ReadonlyArray<ClickSplit> | null }, number, string>;
  /** Up to first + 1 reviews of a user, by id. */
  readonly reviewsOfUser: DataLoader<ChildPageKey, Review[], string>;
  readonly reviewCountOfUser: DataLoader<number, number>;
  /** Up to first + 1 reviews of an item, by id. */
  readonly reviewsOfItem: DataLoader<ChildPageKey, Review[], string>;
  readonly reviewCountOfItem: DataLoader<number, number>;
}

/** Results in key order, null where a key matched nothing (DataLoader's contract). */
function inKeyOrder<K, T>(keys: ReadonlyArray<K>, rows: ReadonlyArray<T>, keyOf: (row: T) => K): Array<T | null> {
  const byKey = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => byKey.get(key) ?? null);
}

const externalCacheKey = (key: ExternalKey): string => `${key.datasetId}\u0000${key.externalId}`;
const splitsKey = (splits: ReadonlyArray<ClickSplit> | null): string => (splits === null ? "*" : [...splits].sort().join(","));
const pageArgsKey = (key: ChildPageKey): string => `${key.first}:${key.afterId ?? ""}`;

/** Groups keys that share everything but the parent, so each group is one batched query. */
function groupBy<K>(keys: ReadonlyArray<K>, groupOf: (key: K) => string): Map<string, K[]> {
  const groups = new Map<string, K[]>();
  for (const key of keys) {
    const group = groupOf(key);
    const members = groups.get(group);
    if (members) members.push(key);
    else groups.set(group, [key]);
  }
  return groups;
}

/** Loads child pages for many parents: one catalog call per distinct (first, after, splits). */
function childPageLoader<K extends ChildPageKey, T>(options: {
  groupOf: (key: K) => string;
  fetch: (keys: ReadonlyArray<K>) => Promise<T[]>;
  parentOf: (row: T) => number | null;
}): DataLoader<K, T[], string> {
  const { groupOf, fetch, parentOf } = options;
  return new DataLoader<K, T[], string>(
    async (keys) => {
      const results = new Map<string, T[]>();
      for (const [group, members] of groupBy(keys, groupOf)) {
        const byParent = new Map<number, T[]>();
        for (const row of await fetch(members)) {
          const parent = parentOf(row);
          if (parent === null) continue;
          const list = byParent.get(parent);
          if (list) list.push(row);
          else byParent.set(parent, [row]);
        }
        for (const member of members) results.set(`${group}|${member.parentId}`, byParent.get(member.parentId) ?? []);
      }
      return keys.map((key) => results.get(`${groupOf(key)}|${key.parentId}`) ?? []);
    },
    { cacheKeyFn: (key) => `${groupOf(key)}|${key.parentId}` },
  );
}

/** Builds a fresh set of loaders (never share them across requests: their caches are per request). */
export function createLoaders(catalog: CatalogService): Loaders {
  const byExternal = <T extends { datasetId: number; externalId: string }>(
    fetch: (datasetId: number, externalIds: ReadonlyArray<string>) => Promise<T[]>,
  ): DataLoader<ExternalKey, T | null, string> =>
    new DataLoader<ExternalKey, T | null, string>(
      async (keys) => {
        const found = new Map<string, T>();
        for (const [, members] of groupBy(keys, (key) => String(key.datasetId))) {
          const rows = await fetch(members[0]!.datasetId, [...new Set(members.map((key) => key.externalId))]);
          for (const row of rows) found.set(externalCacheKey(row), row);
        }
        return keys.map((key) => found.get(externalCacheKey(key)) ?? null);
      },
      { cacheKeyFn: externalCacheKey },
    );

  return {
    datasetById: new DataLoader(async (ids) => inKeyOrder(ids, await catalog.datasetsByIds(ids), (row) => row.id)),
    datasetByName: new DataLoader(async (names) =>
      inKeyOrder(names, await catalog.datasetsByNames(names), (row) => row.name),
    ),
    userById: new DataLoader(async (ids) => inKeyOrder(ids, await catalog.usersByIds(ids), (row) => row.id)),
    itemById: new DataLoader(async (ids) => inKeyOrder(ids, await catalog.itemsByIds(ids), (row) => row.id)),
    userByExternalId: byExternal((datasetId, externalIds) => catalog.usersByExternalIds(datasetId, externalIds)),
    itemByExternalId: byExternal((datasetId, externalIds) => catalog.itemsByExternalIds(datasetId, externalIds)),
    modelById: new DataLoader(async (ids) => inKeyOrder(ids, await catalog.modelsByIds(ids), (row) => row.id)),
    modelsOfDataset: new DataLoader(async (datasetIds) => {
      const models = await catalog.modelsOfDatasets(datasetIds);
      return datasetIds.map((id) => models.filter((model) => model.datasetId === id));
    }),
    clicksOfUser: childPageLoader<ClickPageKey, Click>({
      groupOf: (key) => `${pageArgsKey(key)}:${splitsKey(key.splits)}`,
      fetch: (keys) =>
        catalog.clicksOfUsers({
          parentIds: keys.map((key) => key.parentId),
          first: keys[0]!.first,
          afterId: keys[0]!.afterId,
          splits: keys[0]!.splits,
        }),
      parentOf: (row) => row.userId,
    }),
    clickCountOfUser: new DataLoader(
      async (keys) => {
        const counts = new Map<string, number>();
        for (const [group, members] of groupBy(keys, (key) => splitsKey(key.splits))) {
          const perUser = await catalog.countClicksOfUsers({
            parentIds: members.map((key) => key.parentId),
            splits: members[0]!.splits,
          });
          for (const key of members) counts.set(`${group}|${key.parentId}`, perUser.get(key.parentId) ?? 0);
        }
        return keys.map((key) => counts.get(`${splitsKey(key.splits)}|${key.parentId}`) ?? 0);
      },
      { cacheKeyFn: (key) => `${splitsKey(key.splits)}|${key.parentId}` },
    ),
    reviewsOfUser: childPageLoader<ChildPageKey, Review>({
      groupOf: pageArgsKey,
      fetch: (keys) =>
        catalog.reviewsOfUsers({ parentIds: keys.map((key) => key.parentId), first: keys[0]!.first, afterId: keys[0]!.afterId }),
      parentOf: (row) => row.userId,
    }),
    reviewCountOfUser: new DataLoader(async (ids) => {
      const counts = await catalog.countReviewsOfUsers(ids);
      return ids.map((id) => counts.get(id) ?? 0);
    }),
    reviewsOfItem: childPageLoader<ChildPageKey, Review>({
      groupOf: pageArgsKey,
      fetch: (keys) =>
        catalog.reviewsOfItems({ parentIds: keys.map((key) => key.parentId), first: keys[0]!.first, afterId: keys[0]!.afterId }),
      parentOf: (row) => row.itemId,
    }),
    reviewCountOfItem: new DataLoader(async (ids) => {
      const counts = await catalog.countReviewsOfItems(ids);
      return ids.map((id) => counts.get(id) ?? 0);
    }),
  };
}
