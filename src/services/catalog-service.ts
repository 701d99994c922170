/**
 * The browse use case: datasets, users, items, reviews, clicks, models and experiments as the API
 * lists and pages them. Resolvers and their loaders read through this service; the SQL behind each
 * read, batched by ids, lives in src/db/catalog.ts.
 */
import type { DataSource } from "typeorm";
import { Catalog, type ChildPageQuery, type KeysetAfter, type PageFilter, type RankedPageQuery } from "../db/catalog.ts";
import type { Click, ClickSplit } from "../db/entities/click.entity.ts";
import type { Dataset } from "../db/entities/dataset.entity.ts";
import type { Experiment } from "../db/entities/experiment.entity.ts";
import type { Item } from "../db/entities/item.entity.ts";
import type { Review } from "../db/entities/review.entity.ts";
import type { TrainedModel } from "../db/entities/trained-model.entity.ts";
import type { User } from "../db/entities/user.entity.ts";

export type { ChildPageQuery, KeysetAfter, PageFilter, RankedPageQuery };

export class CatalogService {
  /** The queries themselves; the prediction loaders read items by column through them until the prediction path reads through a service too. */
  readonly queries: Catalog;

  constructor(dataSource: DataSource) {
    this.queries = new Catalog(dataSource);
  }

  /** Experiments, newest first, optionally of one dataset. */
  async experiments(datasetId: number | null): Promise<Experiment[]> {
    return this.queries.experiments(datasetId);
  }

  async experimentById(id: number): Promise<Experiment | null> {
    return this.queries.experimentById(id);
  }

  /** Every dataset, oldest first. */
  async listDatasets(): Promise<Dataset[]> {
    return this.queries.listDatasets();
  }

  async datasetsByIds(ids: ReadonlyArray<number>): Promise<Dataset[]> {
    return this.queries.datasetsByIds(ids);
  }

  async datasetsByNames(names: ReadonlyArray<string>): Promise<Dataset[]> {
    return this.queries.datasetsByNames(names);
  }

  async usersByIds(ids: ReadonlyArray<number>): Promise<User[]> {
    return this.queries.usersByIds(ids);
  }

  async itemsByIds(ids: ReadonlyArray<number>): Promise<Item[]> {
    return this.queries.itemsByIds(ids);
  }

  async usersByExternalIds(datasetId: number, externalIds: ReadonlyArray<string>): Promise<User[]> {
    return this.queries.usersByExternalIds(datasetId, externalIds);
  }

  async itemsByExternalIds(datasetId: number, externalIds: ReadonlyArray<string>): Promise<Item[]> {
    return this.queries.itemsByExternalIds(datasetId, externalIds);
  }

  async modelsByIds(ids: ReadonlyArray<number>): Promise<TrainedModel[]> {
    return this.queries.modelsByIds(ids);
  }

  /** Trained models, newest first, of some datasets or (datasetIds null) of all. */
  async modelsOfDatasets(datasetIds: ReadonlyArray<number> | null): Promise<TrainedModel[]> {
    return this.queries.modelsOfDatasets(datasetIds);
  }

  /** One page (first + 1 rows) of a dataset's users, filtered by training clicks. */
  async pageUsers(query: RankedPageQuery): Promise<User[]> {
    return this.queries.pageUsers(query);
  }

  async countUsers(query: PageFilter): Promise<number> {
    return this.queries.countUsers(query);
  }

  /** One page (first + 1 rows) of a dataset's items, filtered by training clicks. */
  async pageItems(query: RankedPageQuery): Promise<Item[]> {
    return this.queries.pageItems(query);
  }

  async countItems(query: PageFilter): Promise<number> {
    return this.queries.countItems(query);
  }

  /** Clicks of many users (optionally of some splits), up to first + 1 per user, ordered by id. */
  async clicksOfUsers(query: ChildPageQuery & { splits: ReadonlyArray<ClickSplit> | null }): Promise<Click[]> {
    return this.queries.clicksOfUsers(query);
  }

  async countClicksOfUsers(query: { parentIds: ReadonlyArray<number>; splits: ReadonlyArray<ClickSplit> | null }): Promise<Map<number, number>> {
    return this.queries.countClicksOfUsers(query);
  }

  /** Reviews of many users, up to first + 1 per user, ordered by id. */
  async reviewsOfUsers(query: ChildPageQuery): Promise<Review[]> {
    return this.queries.reviewsOfUsers(query);
  }

  async countReviewsOfUsers(parentIds: ReadonlyArray<number>): Promise<Map<number, number>> {
    return this.queries.countReviewsOfUsers(parentIds);
  }

  /** Reviews of many items, up to first + 1 per item, ordered by id. */
  async reviewsOfItems(query: ChildPageQuery): Promise<Review[]> {
    return this.queries.reviewsOfItems(query);
  }

  async countReviewsOfItems(parentIds: ReadonlyArray<number>): Promise<Map<number, number>> {
    return this.queries.countReviewsOfItems(parentIds);
  }
}
