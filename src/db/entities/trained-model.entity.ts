import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import type { EpochRecord } from "../../engine/types.ts";
import { Dataset } from "./dataset.entity.ts";

/** Life cycle of a trained model row: created when training starts, ready once saved and evaluated. */
export type TrainedModelStatus = "training" | "ready" | "failed";

/** Ranking metrics keyed `ndcg@10`, `recall@20`, … (means over users with held-out items). */
export type MetricMap = Readonly<Record<string, number>>;

/** Test-split metrics per prediction mode; `vcm-cd` only for models that have a VAEy. */
export interface TestMetrics {
  readonly vcm: MetricMap;
  readonly "vcm-cd"?: MetricMap;
}

/** One trained model: its configuration, how training went, its test metrics and where its checkpoint lives. */
@Entity({ name: "trained_models" })
@Index("IDX_trained_models_dataset", ["datasetId"])
export class TrainedModel {
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

  /** The resolved training configuration (engine/config.ts VcmConfig). */
  @Column({ type: "simple-json" })
  config: Record<string, unknown>;

  /** Engine backend that trained the model (engine/types.ts BackendName). */
  @Column({ type: "text" })
  backend: string;

  /** What ran the kernels, in words: the GPU adapter's vendor and description on webgpu (null before it was recorded). */
  @Column({ type: "text", nullable: true })
  device: string | null;

  @Column({ type: "text" })
  status: TrainedModelStatus;

  /** Why training failed, as a sentence (status "failed" only). */
  @Column({ type: "text", nullable: true })
  error: string | null;

  /** 1-based epoch whose weights were kept; 0 for popularity or before training ends. */
  @Column({ type: "integer", name: "best_epoch", default: 0 })
  bestEpoch: number;

  /** Mean wall-clock seconds per epoch (training plus validation). */
  @Column({ type: "real", name: "seconds_per_epoch", nullable: true })
  secondsPerEpoch: number | null;

  @Column({ type: "simple-json", name: "test_metrics", nullable: true })
  testMetrics: TestMetrics | null;

  /** Per-epoch loss terms, β, validation NDCG@100 and seconds. */
  @Column({ type: "simple-json" })
  history: EpochRecord[];

  /** Absolute path of the checkpoint folder, once saved. */
  @Column({ type: "text", name: "checkpoint_path", nullable: true })
  checkpointPath: string | null;

  /** Fingerprint of the dataset version trained on (counts and id maps), to detect a re-ingested dataset. */
  @Column({ type: "text", name: "dataset_fingerprint", nullable: true })
  datasetFingerprint: string | null;

  /** The dataset's version (Dataset.version) the model was trained on. */
  @Column({ type: "integer", name: "dataset_version", default: 1 })
  datasetVersion: number;

  /** The dataset's users and items when the model was trained: it knows matrix rows and columns below these. */
  @Column({ type: "integer", name: "user_count", default: 0 })
  userCount: number;

  @Column({ type: "integer", name: "item_count", default: 0 })
  itemCount: number;

  /** The model a warm start continued from (null: trained from scratch); not a foreign key, it outlives that model. */
  @Column({ type: "integer", name: "from_model_id", nullable: true })
  fromModelId: number | null;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;
}
