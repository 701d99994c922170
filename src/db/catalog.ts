/**
 * Read-only queries behind the browse part of the API. Every method takes many keys at once so the
 * GraphQL loaders turn N lookups into one statement per chunk of ids, never one per row.
 */
import { In, type DataSource, type ObjectLiteral, type Repository, type SelectQueryBuilder } from "typeorm";
import { Click, type ClickSplit } from "./entities/click.entity.ts";
import { Dataset } from "./entities/dataset.entity.ts";
import { Experiment } from "./entities/experiment.entity.ts";
import { Item } from "./entities/item.entity.ts";
import { Review } from "./entities/review.entity.ts";
import { TrainedModel } from "./entities/trained-model.entity.ts";
import { User } from "./entities/user.entity.ts";
import { itemsByColumns } from "./items.ts";

/** Ids per IN (...) list: well under SQLite's bound-parameter limit. */
const CHUNK = 500;

/** Keyset position after which a page starts: the sort key (absent for id order) and the row id. */
export interface KeysetAfter {
  readonly key?: number;
  readonly id: number;
}

/** Filters and ordering of a dataset's users or items. */
export interface RankedPageQuery {
  readonly datasetId: number;
  /** Rows to return; the method fetches one more so the caller knows whether a next page exists. */
  readonly first: number;
  readonly after: KeysetAfter | null;
  /** "id" orders by id; "count" by training clicks, ties by id. */
  readonly orderBy: "id" | "count";
  readonly descending: boolean;
  /** Inclusive range of training clicks. */
  readonly minCount: number | null;
  readonly maxCount: number | null;
  /** Text the row's external id or its title (items) / name (users) contains, ASCII letters folded; null: no filter. */
  readonly search?: string | null;
}

/** The filter part of a page query (what its count depends on). */
export type PageFilter = Pick<RankedPageQuery, "datasetId" | "minCount" | "maxCount" | "search">;

/** A page of children for many parents at once (clicks or reviews of users, reviews of items). */
export interface ChildPageQuery {
  readonly parentIds: ReadonlyArray<number>;
  /** Rows per parent; one more is fetched for hasNextPage. */
  readonly first: number;
  /** Children with an id greater than this (the keyset cursor), or null for the first page. */
  readonly afterId: number | null;
}

export class Catalog {
  constructor(private readonly dataSource: DataSource) {}

  /** Experiments, newest first, optionally of one dataset. */
  async experiments(datasetId: number | null): Promise<Experiment[]> {
    return this.dataSource.getRepository(Experiment).find({ where: datasetId === null ? {} : { datasetId }, order: { id: "DESC" } });
  }

  async experimentById(id: number): Promise<Experiment | null> {
    return this.dataSource.getRepository(Experiment).findOne({ where: { id } });
  }

  async listDatasets(): Promise<Dataset[]> {
    return this.dataSource.getRepository(Dataset).find({ order: { id: "ASC" } });
  }

  async datasetsByIds(ids: ReadonlyArray<number>): Promise<Dataset[]> {
    return this.byChunks(ids, (chunk) => this.dataSource.getRepository(Dataset).findBy({ id: In(chunk) }));
  }

  async datasetsByNames(names: ReadonlyArray<string>): Promise<Dataset[]> {
    return this.byChunks(names, (chunk) => this.dataSource.getRepository(Dataset).findBy({ name: In(chunk) }));
  }

  async usersByIds(ids: ReadonlyArray<number>): Promise<User[]> {
    return this.byChunks(ids, (chunk) => this.dataSource.getRepository(User).findBy({ id: In(chunk) }));
  }

  /** Items of one dataset at these matrix columns, in one statement (rankings name items by column). */
  async itemsByColumns(datasetId: number, columns: ReadonlyArray<number>): Promise<Item[]> {
    return itemsByColumns(this.dataSource, datasetId, columns);
  }

  async itemsByIds(ids: ReadonlyArray<number>): Promise<Item[]> {
    return this.byChunks(ids, (chunk) => this.dataSource.getRepository(Item).findBy({ id: In(chunk) }));
  }

  /** Users of one dataset by their external ids (one statement per chunk). */
  async usersByExternalIds(datasetId: number, externalIds: ReadonlyArray<string>): Promise<User[]> {
    return this.byChunks(externalIds, (chunk) =>
      this.dataSource.getRepository(User).findBy({ datasetId, externalId: In(chunk) }),
    );
  }

  /** Items of one dataset by their external ids (one statement per chunk). */
  async itemsByExternalIds(datasetId: number, externalIds: ReadonlyArray<string>): Promise<Item[]> {
    return this.byChunks(externalIds, (chunk) =>
      this.dataSource.getRepository(Item).findBy({ datasetId, externalId: In(chunk) }),
    );
  }

  async modelsByIds(ids: ReadonlyArray<number>): Promise<TrainedModel[]> {
    return this.byChunks(ids, (chunk) => this.dataSource.getRepository(TrainedModel).findBy({ id: In(chunk) }));
  }

  /** Trained models, newest first, of some datasets or (datasetIds null) of all. */
  async modelsOfDatasets(datasetIds: ReadonlyArray<number> | null): Promise<TrainedModel[]> {
    const repository = this.dataSource.getRepository(TrainedModel);
    if (datasetIds === null) return repository.find({ order: { id: "DESC" } });
    return this.byChunks(datasetIds, (chunk) =>
      repository.find({ where: { datasetId: In(chunk) }, order: { id: "DESC" } }),
    );
  }

  /** One page (first + 1 rows) of a dataset's users, filtered by training clicks. */
  async pageUsers(query: RankedPageQuery): Promise<User[]> {
    const builder = this.dataSource.getRepository(User).createQueryBuilder("row");
    return rankedPage(builder, query, "name").getMany();
  }

  async countUsers(query: PageFilter): Promise<number> {
    const builder = this.dataSource.getRepository(User).createQueryBuilder("row");
    return countFilter(builder, query, "name").getCount();
  }

  /** One page (first + 1 rows) of a dataset's items, filtered by training clicks. */
  async pageItems(query: RankedPageQuery): Promise<Item[]> {
    const builder = this.dataSource.getRepository(Item).createQueryBuilder("row");
    return rankedPage(builder, query, "title").getMany();
  }

  async countItems(query: PageFilter): Promise<number> {
    const builder = this.dataSource.getRepository(Item).createQueryBuilder("row");
    return countFilter(builder, query, "title").getCount();
  }

  /** Clicks of many users (optionally of some splits), up to first + 1 per user, ordered by id. */
  async clicksOfUsers(query: ChildPageQuery & { splits: ReadonlyArray<ClickSplit> | null }): Promise<Click[]> {
    return this.childPages({ entity: Click, table: "clicks", parentColumn: "user_id", query, splits: query.splits });
  }

  async countClicksOfUsers(query: {
    parentIds: ReadonlyArray<number>;
    splits: ReadonlyArray<ClickSplit> | null;
  }): Promise<Map<number, number>> {
    return this.childCounts({ entity: Click, parentProperty: "userId", parentIds: query.parentIds, splits: query.splits });
  }

  /** Reviews of many users, up to first + 1 per user, ordered by id. */
  async reviewsOfUsers(query: ChildPageQuery): Promise<Review[]> {
    return this.childPages({ entity: Review, table: "reviews", parentColumn: "user_id", query, splits: null });
  }

  async countReviewsOfUsers(parentIds: ReadonlyArray<number>): Promise<Map<number, number>> {
    return this.childCounts({ entity: Review, parentProperty: "userId", parentIds, splits: null });
  }

  /** Reviews of many items, up to first + 1 per item, ordered by id. */
  async reviewsOfItems(query: ChildPageQuery): Promise<Review[]> {
    return this.childPages({ entity: Review, table: "reviews", parentColumn: "item_id", query, splits: null });
  }

  async countReviewsOfItems(parentIds: ReadonlyArray<number>): Promise<Map<number, number>> {
    return this.childCounts({ entity: Review, parentProperty: "itemId", parentIds, splits: null });
  }

  /** Up to first + 1 children per parent in ONE statement per chunk of parents (ROW_NUMBER per parent). */
  private async childPages<T extends ObjectLiteral>(options: {
    entity: new () => T;
    table: "clicks" | "reviews";
    parentColumn: "user_id" | "item_id";
    query: ChildPageQuery;
    splits: ReadonlyArray<ClickSplit> | null;
  }): Promise<T[]> {
    const { entity, table, parentColumn, query, splits } = options;
    const repository: Repository<T> = this.dataSource.getRepository(entity);
    return this.byChunks(query.parentIds, (chunk) => {
      const conditions = [`${parentColumn} IN (:...parents)`];
      if (query.afterId !== null) conditions.push("id > :afterId");
      if (splits !== null) conditions.push("split IN (:...splits)");
      const ranked =
        `SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY ${parentColumn} ORDER BY id) AS position ` +
        `FROM ${table} WHERE ${conditions.join(" AND ")}) AS ranked WHERE position <= :limit`;
      return repository
        .createQueryBuilder("child")
        .where(`child.id IN (${ranked})`, {
          parents: chunk,
          afterId: query.afterId,
          splits: splits ?? [],
          limit: query.first + 1,
        })
        .orderBy("child.id", "ASC")
        .getMany();
    });
  }

  /** COUNT(*) per parent in one statement per chunk. */
  private async childCounts<T extends ObjectLiteral>(options: {
    entity: new () => T;
    parentProperty: "userId" | "itemId";
    parentIds: ReadonlyArray<number>;
    splits: ReadonlyArray<ClickSplit> | null;
  }): Promise<Map<number, number>> {
    const { entity, parentProperty, parentIds, splits } = options;
    const rows = await this.byChunks(parentIds, (chunk) => {
      const builder = this.dataSource
        .getRepository(entity)
        .createQueryBuilder("child")
        .select(`child.${parentProperty}`, "parent")
        .addSelect("COUNT(*)", "count")
        .where(`child.${parentProperty} IN (:...parents)`, { parents: chunk })
        .groupBy(`child.${parentProperty}`);
      if (splits !== null) builder.andWhere("child.split IN (:...splits)", { splits });
      return builder.getRawMany<{ parent: number; count: number }>();
    });
    return new Map(rows.map((row) => [Number(row.parent), Number(row.count)]));
  }

  /** Runs a query per chunk of keys and concatenates the rows (an empty key list runs nothing). */
  private async byChunks<K, T>(keys: ReadonlyArray<K>, run: (chunk: K[]) => Promise<T[]>): Promise<T[]> {
    const rows: T[] = [];
    for (let start = 0; start < keys.length; start += CHUNK) {
      rows.push(...(await run(keys.slice(start, start + CHUNK))));
    }
    return rows;
  }
}

/** Dataset and training-click range conditions shared by a page and its count. */
function countFilter<T extends ObjectLiteral>(builder: SelectQueryBuilder<T>, query: PageFilter, textColumn: "title" | "name"): SelectQueryBuilder<T> {
  builder.where("row.datasetId = :datasetId", { datasetId: query.datasetId });
  if (query.minCount !== null) builder.andWhere("row.trainClickCount >= :minCount", { minCount: query.minCount });
  if (query.maxCount !== null) builder.andWhere("row.trainClickCount <= :maxCount", { maxCount: query.maxCount });
  if (query.search != null && query.search !== "") {
    // LIKE with its wildcards escaped: the text is matched as typed.
    const pattern = `%${query.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    builder.andWhere(`(LOWER(row.${textColumn}) LIKE :search ESCAPE '\\' OR LOWER(row.externalId) LIKE :search ESCAPE '\\')`, { search: pattern });
  }
  return builder;
}

/** Keyset pagination: rows strictly after the cursor in (key, id) order, first + 1 of them. */
function rankedPage<T extends ObjectLiteral>(builder: SelectQueryBuilder<T>, query: RankedPageQuery, textColumn: "title" | "name"): SelectQueryBuilder<T> {
  countFilter(builder, query, textColumn);
  const direction = query.descending ? "DESC" : "ASC";
  const beyond = query.descending ? "<" : ">";
  if (query.orderBy === "count") {
    if (query.after !== null) {
      builder.andWhere(
        `(row.trainClickCount ${beyond} :afterKey OR (row.trainClickCount = :afterKey AND row.id ${beyond} :afterId))`,
        { afterKey: query.after.key, afterId: query.after.id },
      );
    }
    builder.orderBy("row.trainClickCount", direction).addOrderBy("row.id", direction);
  } else {
    if (query.after !== null) builder.andWhere(`row.id ${beyond} :afterId`, { afterId: query.after.id });
    builder.orderBy("row.id", direction);
  }
  return builder.limit(query.first + 1);
}
