import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/** Where an experiment stands. */
export type ExperimentStatus = "running" | "finished" | "failed";

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

  @Column({ type: "integer", name: "runs_done", default: 0 })
  runsDone: number;

  @Column({ type: "integer", name: "runs_total" })
  runsTotal: number;

  /** The report's tables (per mode: model → metric → mean, standard error, p-value, significant). */
  @Column({ type: "simple-json", nullable: true })
  results: Record<string, unknown> | null;

  @Column({ type: "text", nullable: true })
  error: string | null;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;

  @Column({ type: "datetime", name: "finished_at", nullable: true })
  finishedAt: Date | null;
}
