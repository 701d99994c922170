import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from "typeorm";

/** Where a dataset came from. */
export type DatasetSource = "amazon" | "yelp" | "tsv" | "generated";

/** One ingested dataset with the statistics of the paper's Table 1, counted after preprocessing. */
@Entity({ name: "datasets" })
export class Dataset {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "text", unique: true })
  name: string;

  @Column({ type: "text" })
  source: DatasetSource;

  /** The preprocessing options used (min rating, filters, vocabulary size, seed, generator settings). */
  @Column({ type: "simple-json" })
  options: Record<string, unknown>;

  @Column({ type: "integer", name: "user_count" })
  userCount: number;

  @Column({ type: "integer", name: "item_count" })
  itemCount: number;

  /** Distinct (user, item) clicks kept, over all three splits. */
  @Column({ type: "integer", name: "click_count" })
  clickCount: number;

  @Column({ type: "integer", name: "train_click_count" })
  trainClickCount: number;

  @Column({ type: "integer", name: "validation_click_count" })
  validationClickCount: number;

  @Column({ type: "integer", name: "test_click_count" })
  testClickCount: number;

  @Column({ type: "integer", name: "review_count" })
  reviewCount: number;

  @Column({ type: "integer", name: "vocabulary_size" })
  vocabularySize: number;

  /** 1 − clicks / (users × items). */
  @Column({ type: "real" })
  sparsity: number;

  /** Malformed input records skipped at ingest, counted per reason. */
  @Column({ type: "simple-json" })
  skipped: Record<string, number>;

  /** 1 after the ingest, one more for each append that added users, items, clicks or reviews. */
  @Column({ type: "integer", default: 1 })
  version: number;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;
}
