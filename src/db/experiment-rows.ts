/**
 * Experiment rows: one per experiment folder and arguments (a resumed experiment keeps its row),
 * marked running when a run starts or resumes, its progress counted as runs finish, and its end
 * recorded once. The browse API reads them through the Catalog.
 */
import type { DataSource } from "typeorm";
import { Experiment } from "./entities/experiment.entity.ts";

/** What a new (or resumed) experiment records when it starts. */
export type ExperimentStart = Pick<Experiment, "datasetId" | "key" | "args" | "outDir" | "runsTotal">;

/** The experiment with these arguments (key) in this folder, or null. */
export async function findExperiment(dataSource: DataSource, o: { key: string; outDir: string }): Promise<Experiment | null> {
  return dataSource.getRepository(Experiment).findOne({ where: { key: o.key, outDir: o.outDir } });
}

/** The experiment's row as stored now (it must exist). */
export async function getExperiment(dataSource: DataSource, id: number): Promise<Experiment> {
  return dataSource.getRepository(Experiment).findOneByOrFail({ id });
}

/**
 * The experiment's row, marked running: the one with the same key and folder when there is one (its
 * end and error cleared, its total updated), otherwise a new one with no runs done.
 */
export async function startExperimentRow(dataSource: DataSource, start: ExperimentStart): Promise<Experiment> {
  const repository = dataSource.getRepository(Experiment);
  const existing = await repository.findOne({ where: { key: start.key, outDir: start.outDir } });
  if (existing !== null) {
    await repository.update(existing.id, { status: "running", error: null, finishedAt: null, runsTotal: start.runsTotal });
    return { ...existing, status: "running", error: null, finishedAt: null, runsTotal: start.runsTotal };
  }
  return repository.save(
    repository.create({ datasetId: start.datasetId, key: start.key, args: start.args, outDir: start.outDir, status: "running", runsDone: 0, runsTotal: start.runsTotal, results: null, error: null, finishedAt: null }),
  );
}

/** Records how many of an experiment's runs are done. */
export async function recordExperimentProgress(dataSource: DataSource, id: number, runsDone: number): Promise<void> {
  await dataSource.getRepository(Experiment).update(id, { runsDone });
}

/** Marks the experiment finished, with its results (only these columns change). */
export async function finishExperiment(dataSource: DataSource, row: Experiment, o: { runsDone: number; results: Record<string, unknown> }): Promise<void> {
  // TypeORM types a simple-json column's update value too narrowly; update() serialises it as save() does.
  const results = o.results as never;
  await dataSource.getRepository(Experiment).update(row.id, { status: "finished", runsDone: o.runsDone, results, error: null, finishedAt: new Date() });
}

/** Records that the experiment failed, with the sentence for its row. */
export async function failExperiment(dataSource: DataSource, id: number, o: { runsDone: number; error: string }): Promise<void> {
  await dataSource.getRepository(Experiment).update(id, { status: "failed", runsDone: o.runsDone, error: o.error, finishedAt: new Date() });
}

/** Fails the experiment only while it is still running (its process died without recording its end). */
export async function failRunningExperiment(dataSource: DataSource, id: number, error: string): Promise<void> {
  await dataSource.getRepository(Experiment).update({ id, status: "running" }, { status: "failed", error, finishedAt: new Date() });
}
