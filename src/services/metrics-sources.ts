/**
 * What one server's /metrics reads at scrape time (issue 26, item 4): the large-query gate's queue, jobs
 * by state and every ready model's stored test figures. A database that is away leaves these series out
 * of that scrape instead of failing it, so the process metrics still answer during an outage.
 */
import type { DataSource } from "typeorm";
import { countJobsByState, readyModelMetrics } from "../db/ops-queries.ts";
import type { ModelFigures, ScrapeSources } from "../observability/metrics.ts";
import type { CohortService } from "./cohorts.ts";

export function scrapeSources(options: { dataSource: DataSource; gateWaiting: () => number; cohorts: CohortService | undefined }): ScrapeSources {
  const { dataSource, cohorts } = options;
  return {
    gateWaiting: options.gateWaiting,
    jobsByState: () => countJobsByState(dataSource).catch(() => []),
    async readyModels(): Promise<ModelFigures[]> {
      const models = await readyModelMetrics(dataSource).catch(() => []);
      return Promise.all(
        models.map(async (model) => ({
          model: model.id,
          variant: model.variant,
          dataset: model.dataset,
          ndcg10: model.testMetrics?.vcm["ndcg@10"],
          recall20: model.testMetrics?.vcm["recall@20"],
          meanCapacity: await cohorts?.heldMeanCapacity(model.id),
        })),
      );
    },
  };
}
