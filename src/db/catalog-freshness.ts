/**
 * Whether other processes changed the catalog, for the API's caches: the commit watch (commit-watch.ts)
 * costs no table read, so it can be asked before cached answers (once per turn of the event loop).
 * Only when it changed are the cached ids looked up, with the datasets' versions (an append moves one).
 */
import { In, type DataSource } from "typeorm";
import type { CommitWatch } from "./commit-watch.ts";
import { Dataset } from "./entities/dataset.entity.ts";
import { TrainedModel } from "./entities/trained-model.entity.ts";

/** `changed()` and `current()` over one data source (the shape services/inference.ts asks for). */
export function catalogFreshness(dataSource: DataSource, watch: CommitWatch): {
  changed(): boolean;
  current(ids: { models: ReadonlyArray<number>; datasets: ReadonlyArray<number> }): Promise<{ models: ReadonlySet<number>; datasets: ReadonlyMap<number, number> }>;
} {
  let seen = watch.version();
  // Asked once per turn of the event loop: the resolvers of one query batch share the answer.
  let askedThisTurn = false;
  return {
    changed() {
      if (askedThisTurn) return false;
      askedThisTurn = true;
      setImmediate(() => {
        askedThisTurn = false;
      });
      const now = watch.version();
      if (now === seen) return false;
      seen = now;
      return true;
    },
    async current(ids) {
      const models = ids.models.length === 0 ? [] : await dataSource.getRepository(TrainedModel).find({ where: { id: In([...ids.models]), status: "ready" }, select: { id: true } });
      const datasets = ids.datasets.length === 0 ? [] : await dataSource.getRepository(Dataset).find({ where: { id: In([...ids.datasets]) }, select: { id: true, version: true } });
      return { models: new Set(models.map((m) => m.id)), datasets: new Map(datasets.map((d) => [d.id, d.version])) };
    },
  };
}
