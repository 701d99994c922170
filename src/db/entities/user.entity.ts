import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/** A user kept by preprocessing; rowIndex is the user's row in every matrix of the dataset. */
@Entity({ name: "users" })
@Index("IDX_users_dataset_external", ["datasetId", "externalId"], { unique: true })
@Index("IDX_users_dataset_row", ["datasetId", "rowIndex"], { unique: true })
@Index("IDX_users_dataset_train_clicks", ["datasetId", "trainClickCount"])
export class User {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "text", name: "external_id" })
  externalId: string;

  @Column({ type: "integer", name: "row_index" })
  rowIndex: number;

  /** Click counts per split, stored so cohorts by activity need no aggregation. */
  @Column({ type: "integer", name: "train_click_count" })
  trainClickCount: number;

  @Column({ type: "integer", name: "validation_click_count" })
  validationClickCount: number;

  @Column({ type: "integer", name: "test_click_count" })
  testClickCount: number;

  @Column({ type: "integer", name: "review_count" })
  reviewCount: number;

  /** Total word occurrences in the user's bag of words (after the leakage rule and the vocabulary cut). */
  @Column({ type: "integer", name: "word_count" })
  wordCount: number;

  /** Display name from a users metadata file, when one was attached. */
  @Column({ type: "text", nullable: true })
  name: string | null;
}
