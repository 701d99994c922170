import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/** Where an experiment stands. */
export type ExperimentStatus = "queued" | "running" | "finished" | "failed" | "cancelled";

/** One `vcm experiment` (its runs are trained models; its tables are in `results` and in its folder). */
@Entity({ name: "experiments" })
@Index("IDX_experiments_key_dir", ["key", "outDir"], { unique: true })
export class Experiment {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id", foreignKeyConstraintName: "FK_experiments_dataset" })
  dataset: Dataset;

  /** Hash of the arguments: a resumed experiment (same arguments, same folder) keeps its row. */
  @Column({ type: "text" })
  key: string;

  /** Models, seeds, epochs, shared hyper-parameters and grid, as given. */
  @Column({ type: "simple-json" })
  args: Record<string, unknown>;

  /** The folder of report.md, the CSVs and the figures. */
  @Column({ type: "text", name: "out_dir" })
  outDir: string;

  @Column({ type: "text" })
  status: ExperimentStatus;

  /** Tuning trials per model before its seeds' runs (`vcm experiment --tune N`); 0: untuned, its runs at the given settings. */
  @Column({ type: "integer", name: "tune_trials", default: 0 })
  tuneTrials: number;

  @Column({ type: "integer", name: "runs_done", default: 0 })
  runsDone: number;

  @Column({ type: "integer", name: "runs_total" })
  runsTotal: number;

  /** The report's tables (per mode: model → metric → mean, standard error, p-value, significant). */
  @Column({ type: "simple-json", nullable: true })
  results: Record<string, unknown> | null;

  @Column({ type: "text", nullable: true })
  error: string | null;

  /** The process that runs it (host:pid:random), as training jobs name theirs (db/job-leases.ts). */
  @Column({ type: "text", nullable: true })
  owner: string | null;

  /** When the owner's lease ends unless renewed, in milliseconds since the epoch; then it is failed. */
  @Column({ type: "integer", name: "lease_expires_at", nullable: true })
  leaseExpiresAt: number | null;

  /** Set by a cancel asked outside the process that runs it; its owner stops at its next heartbeat. */
  @Column({ type: "boolean", name: "cancel_requested", default: false })
  cancelRequested: boolean;

  /** The model its current run trains (failed with the experiment when its owner is gone). */
  @Column({ type: "integer", name: "model_id", nullable: true })
  modelId: number | null;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;

  @Column({ type: "datetime", name: "finished_at", nullable: true })
  finishedAt: Date | null;
}
