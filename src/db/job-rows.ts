/**
 * The training-job queue's rows: a job is inserted queued, read back by id or listed for polling,
 * and the oldest queued ones are offered to the pump. Who runs a job and every conditional change of
 * its state (claim, lease, progress, end) live in job-leases.ts.
 */
import type { DataSource } from "typeorm";
import { TrainingJob, type TrainingJobStatus } from "./entities/training-job.entity.ts";

/** What a new job records when it is queued. */
export type NewJobFields = Pick<TrainingJob, "datasetId" | "variant" | "config" | "totalEpochs"> & Partial<Pick<TrainingJob, "fromModelId">>;

/** Inserts a queued job with no progress yet. */
export async function insertQueuedJob(dataSource: DataSource, fields: NewJobFields): Promise<TrainingJob> {
  const repository = dataSource.getRepository(TrainingJob);
  return repository.save(
    repository.create({
      datasetId: fields.datasetId,
      variant: fields.variant,
      config: fields.config,
      status: "queued",
      epoch: 0,
      totalEpochs: fields.totalEpochs,
      lastEpoch: null,
      bestValNdcg100: null,
      etaSeconds: null,
      modelId: null,
      fromModelId: fields.fromModelId ?? null,
      error: null,
      startedAt: null,
      finishedAt: null,
    }),
  );
}

/** The job, or null. */
export async function findJob(dataSource: DataSource, jobId: number): Promise<TrainingJob | null> {
  return dataSource.getRepository(TrainingJob).findOne({ where: { id: jobId } });
}

/** The job, which must exist (one this server just claimed). */
export async function getJob(dataSource: DataSource, jobId: number): Promise<TrainingJob> {
  return dataSource.getRepository(TrainingJob).findOneByOrFail({ id: jobId });
}

/** Up to `limit` jobs, newest first, of one status or (undefined) any. */
export async function listJobs(dataSource: DataSource, o: { status?: TrainingJobStatus; limit: number }): Promise<TrainingJob[]> {
  return dataSource.getRepository(TrainingJob).find({ where: o.status ? { status: o.status } : {}, order: { id: "DESC" }, take: o.limit });
}

/** How many jobs wait to start. */
export async function countQueuedJobs(dataSource: DataSource): Promise<number> {
  return dataSource.getRepository(TrainingJob).count({ where: { status: "queued" } });
}

/** Up to `limit` queued jobs, oldest first (the order they start in). */
export async function oldestQueuedJobs(dataSource: DataSource, limit: number): Promise<TrainingJob[]> {
  return dataSource.getRepository(TrainingJob).find({ where: { status: "queued" }, order: { id: "ASC" }, take: limit });
}

/** Records the model a job's worker is training (known from its start, so a restart can fail it). */
export async function setJobModel(dataSource: DataSource, jobId: number, modelId: number): Promise<void> {
  await dataSource.getRepository(TrainingJob).update(jobId, { modelId });
}
