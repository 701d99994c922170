/**
 * Experiment rows: one per experiment folder and arguments (a resumed experiment keeps its row). An
 * experiment is owned like a training job (job-leases.ts claims, renews and asks to cancel both): the
 * process that runs it claims the row with a conditional update (so two never run one), renews its
 * lease, and any process fails a row whose owner is gone, once, with the model its run was training.
 * Its end is recorded only by its owner.
 */
import type { DataSource } from "typeorm";
import { Experiment, type ExperimentStatus } from "./entities/experiment.entity.ts";
import { ownerIsGone } from "./job-leases.ts";
import { failModel } from "./model-rows.ts";

/** What a new (or resumed) experiment records when it starts. */
export type ExperimentStart = Pick<Experiment, "datasetId" | "key" | "args" | "outDir" | "runsTotal"> & Partial<Pick<Experiment, "tuneTrials">>;

/** Experiments that are over: only a new start changes their rows. */
export function isExperimentOver(status: ExperimentStatus): boolean {
  return status === "finished" || status === "failed" || status === "cancelled";
}

/** The experiment with these arguments (key) in this folder, or null. */
export async function findExperiment(dataSource: DataSource, o: { key: string; outDir: string }): Promise<Experiment | null> {
  return dataSource.getRepository(Experiment).findOne({ where: { key: o.key, outDir: o.outDir } });
}

/** The experiment by id, or null. */
export async function findExperimentById(dataSource: DataSource, id: number): Promise<Experiment | null> {
  return dataSource.getRepository(Experiment).findOne({ where: { id } });
}

/** The experiment's row as stored now (it must exist). */
export async function getExperiment(dataSource: DataSource, id: number): Promise<Experiment> {
  return dataSource.getRepository(Experiment).findOneByOrFail({ id });
}

/** Columns that a new start clears: no owner, no cancel, no end. */
const FRESH = { error: null, finishedAt: null, owner: null, leaseExpiresAt: null, cancelRequested: false, modelId: null } as const;

/**
 * Queues the experiment: its row, over, made queued again (a resume), or a new queued row. Null when
 * the row is queued or running already (nothing changes).
 */
export async function queueExperimentRow(dataSource: DataSource, start: ExperimentStart): Promise<Experiment | null> {
  const repository = dataSource.getRepository(Experiment);
  const existing = await findExperiment(dataSource, start);
  if (existing === null) {
    return repository.save(repository.create({ ...start, ...FRESH, status: "queued", runsDone: 0, results: null }));
  }
  const result = await dataSource
    .createQueryBuilder()
    .update(Experiment)
    .set({ ...FRESH, status: "queued", runsTotal: start.runsTotal })
    .where("id = :id AND status IN ('finished', 'failed', 'cancelled')", { id: existing.id })
    .execute();
  return (result.affected ?? 0) === 1 ? getExperiment(dataSource, existing.id) : null;
}

/** Queued experiments, oldest first. */
export async function oldestQueuedExperiments(dataSource: DataSource, limit: number): Promise<Experiment[]> {
  return dataSource.getRepository(Experiment).find({ where: { status: "queued" }, order: { id: "ASC" }, take: limit });
}

/**
 * The row of the process that runs the experiment (`vcm experiment`), claimed for `owner`: a new row,
 * one that is over or queued, one whose owner is gone, or one that `handedBy` (the server that started
 * this process) claimed for it. Null when another live process runs it (nothing changes).
 */
export async function claimExperimentRow(
  dataSource: DataSource,
  o: { start: ExperimentStart; owner: string; leaseMs: number; handedBy: string | null },
): Promise<Experiment | null> {
  const repository = dataSource.getRepository(Experiment);
  const lease = Date.now() + o.leaseMs;
  const existing = await findExperiment(dataSource, o.start);
  if (existing === null) {
    return repository.save(repository.create({ ...o.start, ...FRESH, status: "running", runsDone: 0, results: null, owner: o.owner, leaseExpiresAt: lease }));
  }
  const handed = existing.status === "running" && o.handedBy !== null && existing.owner === o.handedBy;
  if (existing.status === "running" && !handed && !ownerIsGone(existing, Date.now())) return null;
  // Conditional on the row as read, so that of two processes claiming it at once one wins.
  const result = await dataSource
    .createQueryBuilder()
    .update(Experiment)
    .set({ ...(handed ? {} : FRESH), status: "running", owner: o.owner, leaseExpiresAt: lease, runsTotal: o.start.runsTotal })
    .where("id = :id AND status = :status AND owner IS NOT DISTINCT FROM :previous", { id: existing.id, status: existing.status, previous: existing.owner })
    .execute();
  return (result.affected ?? 0) === 1 ? getExperiment(dataSource, existing.id) : null;
}

/** Records the model the owner's current run trains (null between runs). */
export async function setExperimentModel(dataSource: DataSource, o: { id: number; owner: string; modelId: number | null }): Promise<void> {
  await dataSource.getRepository(Experiment).update({ id: o.id, owner: o.owner, status: "running" }, { modelId: o.modelId });
}

/** Records how many of an experiment's runs are done (while `owner` runs it). */
export async function recordExperimentProgress(dataSource: DataSource, o: { id: number; owner: string; runsDone: number }): Promise<void> {
  await dataSource.getRepository(Experiment).update({ id: o.id, owner: o.owner, status: "running" }, { runsDone: o.runsDone });
}

/** Marks the experiment finished, with its results, while `owner` runs it; false when it does not any more. */
export async function finishExperiment(dataSource: DataSource, o: { id: number; owner: string; runsDone: number; results: Record<string, unknown> }): Promise<boolean> {
  // TypeORM types a simple-json column's update value too narrowly; update() serialises it as save() does.
  const results = o.results as never;
  const result = await dataSource
    .getRepository(Experiment)
    .update({ id: o.id, owner: o.owner, status: "running" }, { status: "finished", runsDone: o.runsDone, results, error: null, finishedAt: new Date(), leaseExpiresAt: null, modelId: null });
  return (result.affected ?? 0) === 1;
}

/**
 * Ends a running experiment as failed or cancelled, with the sentence for its row, and fails the model
 * its run was training; only while `owner` runs it when an owner is given. False when nothing changed.
 */
export async function endExperiment(
  dataSource: DataSource,
  o: { id: number; owner: string | null; status: "failed" | "cancelled"; error: string; runsDone?: number },
): Promise<boolean> {
  return dataSource.transaction(async (manager) => {
    const row = await manager.getRepository(Experiment).findOne({ where: { id: o.id } });
    if (row === null || row.status !== "running" || (o.owner !== null && row.owner !== o.owner)) return false;
    const result = await manager
      .createQueryBuilder()
      .update(Experiment)
      .set({ status: o.status, error: o.error, finishedAt: new Date(), leaseExpiresAt: null, modelId: null, ...(o.runsDone === undefined ? {} : { runsDone: o.runsDone }) })
      .where("id = :id AND status = 'running' AND owner IS NOT DISTINCT FROM :owner", { id: o.id, owner: row.owner })
      .execute();
    if ((result.affected ?? 0) !== 1) return false;
    if (row.modelId !== null) await failModel(manager, { modelId: row.modelId, from: "training", error: o.error });
    return true;
  });
}

/** Cancels a queued experiment; false when it is not queued any more. */
export async function cancelQueuedExperiment(dataSource: DataSource, o: { id: number; error: string }): Promise<boolean> {
  const result = await dataSource.getRepository(Experiment).update({ id: o.id, status: "queued" }, { status: "cancelled", error: o.error, finishedAt: new Date() });
  return (result.affected ?? 0) === 1;
}
