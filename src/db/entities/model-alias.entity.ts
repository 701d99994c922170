import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/**
 * A model alias of a dataset (src/services/model-aliases.ts): a name such as "production" that serves
 * one model, or splits users between it and a candidate. The model ids carry no foreign key, so deleting
 * a model leaves the alias in place and a request through it answers NOT_FOUND with a sentence.
 */
@Entity({ name: "model_aliases" })
@Index("IDX_model_aliases_dataset_name", ["datasetId", "name"], { unique: true })
export class ModelAlias {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "text" })
  name: string;

  /** The model every user gets outside the candidate's share. */
  @Column({ type: "integer", name: "model_id" })
  modelId: number;

  /** The model a stable share of users gets instead, or null without an A/B split. */
  @Column({ type: "integer", name: "candidate_model_id", nullable: true })
  candidateModelId: number | null;

  /** Share of users (0 to 1) that the candidate serves. */
  @Column({ type: "real", name: "candidate_share", default: 0 })
  candidateShare: number;

  /** Whether recommendations served through the alias are written to served_recommendations. */
  @Column({ type: "boolean", name: "log_serving", default: false })
  logServing: boolean;

  @UpdateDateColumn({ type: "datetime", name: "updated_at" })
  updatedAt: Date;
}
