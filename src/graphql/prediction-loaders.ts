/**
 * Per-request DataLoaders for predictions: every recommendations / topWords / capacity / explanation
 * field of one request is collected into one batch, grouped by model (and source), and answered with
 * one engine call per group; items are loaded with one SQL statement per dataset.
 */
import DataLoader from "dataloader";
import type { Item } from "../db/entities/item.entity.ts";
import type { Catalog } from "../db/catalog.ts";
import type { ExplanationRequest, RecommendationRequest } from "../services/inference.ts";
import type { NamedExplanation, PairRequest, RankedItem, WhatIfReading } from "../services/served-model.ts";
import type { PredictionServiceSet } from "../services/prediction-services.ts";
import { nextTurn } from "../services/turns.ts";

/** The long-lived services behind the prediction, cohort and training-job resolvers. */
export type PredictionServices = PredictionServiceSet;

/** A (model, user row) pair. */
export interface ModelRowKey {
  readonly modelId: number;
  readonly row: number;
}

/** A pair of a recommendFor answer to explain (its history is row 0 of the reading's index). */
export interface WhatIfPairKey extends Omit<PairRequest, "row"> {
  readonly modelId: number;
  readonly reading: WhatIfReading;
}

/** An item by its column in a dataset. */
export interface ItemColumnKey {
  readonly datasetId: number;
  readonly column: number;
}

/** Fresh for every request: each holds the answers of this request only, and batching follows the query. */
export interface PredictionLoaders {
  readonly recommendations: DataLoader<RecommendationRequest, RankedItem[], string>;
  readonly wordDistribution: DataLoader<ModelRowKey, Float32Array, string>;
  readonly capacity: DataLoader<ModelRowKey, number, string>;
  readonly explanation: DataLoader<ExplanationRequest, NamedExplanation, string>;
  /** Explanations of recommendFor answers: one explain call per answer for all its items. */
  readonly whatIfExplanation: DataLoader<WhatIfPairKey, NamedExplanation, string>;
  readonly itemByColumn: DataLoader<ItemColumnKey, Item | null, string>;
}

/** What prediction resolvers find on the GraphQL context under `prediction`. */
export interface PredictionContextPart {
  readonly services: PredictionServices;
  readonly loaders: PredictionLoaders;
}

/** Builds the per-request part of the context that the prediction resolvers use. */
export function createPredictionContext(services: PredictionServices, catalog: Catalog): PredictionContextPart {
  return { services, loaders: createPredictionLoaders(services, catalog) };
}

/** Builds the per-request prediction loaders. */
export function createPredictionLoaders(services: PredictionServices, catalog: Catalog): PredictionLoaders {
  const { inference } = services;
  return {
    recommendations: new DataLoader((keys) => inference.recommendMany(keys), {
      cacheKeyFn: (k) => `${k.modelId}|${k.source}|${k.row}|${k.k}|${k.excludeSeen}`,
    }),
    wordDistribution: new DataLoader((keys) => inference.wordDistributionMany(keys), {
      cacheKeyFn: (k) => `${k.modelId}|${k.row}`,
    }),
    capacity: new DataLoader((keys) => inference.capacityMany(keys), {
      cacheKeyFn: (k) => `${k.modelId}|${k.row}`,
    }),
    explanation: new DataLoader((keys) => inference.explainMany(keys), {
      cacheKeyFn: (k) => `${k.modelId}|${k.row}|${k.item}|${k.k}|${k.rule ?? ""}|${k.clicks !== false}`,
    }),
    whatIfExplanation: new DataLoader(
      async (keys) => {
        const results: Array<NamedExplanation | Error> = new Array(keys.length);
        const byAnswer = new Map<string, number[]>();
        keys.forEach((k, i) => byAnswer.set(k.reading.view.scope, [...(byAnswer.get(k.reading.view.scope) ?? []), i]));
        for (const members of byAnswer.values()) {
          const { modelId, reading } = keys[members[0]];
          const pairs = members.map((i) => ({ row: 0, item: keys[i].item, k: keys[i].k, rule: keys[i].rule, clicks: keys[i].clicks }));
          try {
            const answers = await inference.whatIf({ modelId, reading, run: (served, view) => served.explain({ dataset: view, pairs }) });
            members.forEach((m, j) => (results[m] = answers[j]));
          } catch (error) {
            for (const m of members) results[m] = error instanceof Error ? error : new Error(String(error));
          }
        }
        return results;
      },
      { cacheKeyFn: (k) => `${k.reading.view.scope}|${k.item}|${k.k}|${k.rule ?? ""}|${k.clicks !== false}` },
    ),
    itemByColumn: new DataLoader(
      async (keys) => {
        // The rankings that asked for these items were the previous step of the request: let others in first.
        await nextTurn();
        const found = new Map<string, Item>();
        const byDataset = new Map<number, number[]>();
        for (const k of keys) {
          const columns = byDataset.get(k.datasetId);
          if (columns) columns.push(k.column);
          else byDataset.set(k.datasetId, [k.column]);
        }
        for (const [datasetId, columns] of byDataset) {
          for (const item of await catalog.itemsByColumns(datasetId, columns)) found.set(`${item.datasetId}|${item.columnIndex}`, item);
        }
        return keys.map((k) => found.get(`${k.datasetId}|${k.column}`) ?? null);
      },
      { cacheKeyFn: (k) => `${k.datasetId}|${k.column}` },
    ),
  };
}
