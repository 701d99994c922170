import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import type { EpochRecord } from "../../engine/types.ts";
import { Dataset } from "./dataset.entity.ts";

/** Life cycle of a training job started through the API. */
export type TrainingJobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** A training run requested through the API; it runs in a child process and reports each epoch here. */
@Entity({ name: "training_jobs" })
@Index("IDX_training_jobs_status", ["status"])
export class TrainingJob {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  /** Engine variant name (engine/types.ts Variant). */
  @Column({ type: "text" })
  variant: string;

  /** The resolved configuration the job trains with (every field of engine VcmConfig: the requested ones over the defaults). */
  @Column({ type: "simple-json" })
  config: Record<string, unknown>;

  @Column({ type: "text" })
  status: TrainingJobStatus;

  /** Epochs finished so far. */
  @Column({ type: "integer", default: 0 })
  epoch: number;

  /** Epochs the job will run. */
  @Column({ type: "integer", name: "total_epochs" })
  totalEpochs: number;

  /** The last finished epoch's loss terms, β and validation NDCG@100. */
  @Column({ type: "simple-json", name: "last_epoch", nullable: true })
  lastEpoch: EpochRecord | null;

  /** Best validation NDCG@100 so far. */
  @Column({ type: "real", name: "best_val_ndcg100", nullable: true })
  bestValNdcg100: number | null;

  /** Estimated seconds until the job ends, from the mean epoch time so far. */
  @Column({ type: "real", name: "eta_seconds", nullable: true })
  etaSeconds: number | null;

  /** The trained model, once saved (not a foreign key: deleting a model keeps its job's history). */
  @Column({ type: "integer", name: "model_id", nullable: true })
  modelId: number | null;

  /** The model the job continues from (a warm start), or null for a run from scratch; not a foreign key. */
  @Column({ type: "integer", name: "from_model_id", nullable: true })
  fromModelId: number | null;

  /** Why the job failed or was cancelled, as a sentence. */
  @Column({ type: "text", nullable: true })
  error: string | null;

  /** The server process that runs the job (host, pid and a random part), while it runs. */
  @Column({ type: "text", nullable: true })
  owner: string | null;

  /** When the owner's lease ends unless renewed, in milliseconds since the epoch; then the job is failed. */
  @Column({ type: "integer", name: "lease_expires_at", nullable: true })
  leaseExpiresAt: number | null;

  /** Set by a cancel asked on a server that does not run the job; its owner stops it at its next heartbeat. */
  @Column({ type: "boolean", name: "cancel_requested", default: false })
  cancelRequested: boolean;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;

  @Column({ type: "datetime", name: "started_at", nullable: true })
  startedAt: Date | null;

  @Column({ type: "datetime", name: "finished_at", nullable: true })
  finishedAt: Date | null;
}
