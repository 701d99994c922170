/**
 * The reads behind /ready and /metrics (issue 26, items 3 and 4): whether the database answers and is
 * migrated, jobs counted by state, and the ready models' stored test figures. Each is a few cheap
 * statements, run per probe or per scrape.
 */
import type { DataSource } from "typeorm";
import { Experiment } from "./entities/experiment.entity.ts";
import { TrainedModel, type TestMetrics } from "./entities/trained-model.entity.ts";
import { TrainingJob } from "./entities/training-job.entity.ts";

/** Null when the database answers and has every migration applied, else what is wrong (a sentence). */
export async function databaseNotReady(dataSource: DataSource): Promise<string | null> {
  await dataSource.query("SELECT 1");
  if (await dataSource.showMigrations()) return "The database has migrations that are not applied yet; restart this server: it applies them when it starts.";
  return null;
}

/** Jobs by kind and state, from the training-job and experiment tables. */
export async function countJobsByState(dataSource: DataSource): Promise<Array<{ kind: string; state: string; count: number }>> {
  const tables = [
    { kind: "training", entity: TrainingJob },
    { kind: "experiment", entity: Experiment },
  ] as const;
  const counts = await Promise.all(
    tables.map(async ({ kind, entity }) => {
      const rows = await dataSource
        .getRepository<{ status: string }>(entity)
        .createQueryBuilder("job")
        .select("job.status", "state")
        .addSelect("COUNT(*)", "count")
        .groupBy("job.status")
        .getRawMany<{ state: string; count: number | string }>();
      return rows.map((row) => ({ kind, state: row.state, count: Number(row.count) }));
    }),
  );
  return counts.flat();
}

/** Every ready model with its variant, dataset name and stored test metrics. */
export async function readyModelMetrics(dataSource: DataSource): Promise<Array<{ id: number; variant: string; dataset: string; testMetrics: TestMetrics | null }>> {
  const rows = await dataSource.getRepository(TrainedModel).find({ where: { status: "ready" }, relations: { dataset: true }, order: { id: "ASC" } });
  return rows.map((row) => ({ id: row.id, variant: row.variant, dataset: row.dataset?.name ?? String(row.datasetId), testMetrics: row.testMetrics }));
}
