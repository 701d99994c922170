import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";
import { Item } from "./item.entity.ts";
import { User } from "./user.entity.ts";

/**
 * A review or other text of a kept user. itemId is null for text that belongs to the user but to no
 * kept item (tsv texts with an empty item, or reviews of items removed by the filter).
 */
@Entity({ name: "reviews" })
@Index("IDX_reviews_user", ["userId"])
@Index("IDX_reviews_item", ["itemId"])
export class Review {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  @Index("IDX_reviews_dataset")
  datasetId: number;

  // No foreign key on dataset_id either (migration 1765500000000): on PostgreSQL an ingest writes its
  // reviews on a second connection, beside the transaction that creates their dataset, and commits
  // them first (dataset-writer-postgres.ts); every deletion of a dataset deletes its reviews itself
  // (dataset-deletion.ts).
  @ManyToOne(() => Dataset, { createForeignKeyConstraints: false })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "integer", name: "user_id" })
  userId: number;

  // No foreign key on user_id and item_id (migration 1765400000000): they are written in the same
  // transaction as the users and items whose ids were just read back, users and items are only ever
  // deleted with their dataset, and deleting a dataset deletes these rows with it. The two
  // keys' per-row checks were two thirds of an ingest's write time on PostgreSQL (BENCHMARKS.md).
  @ManyToOne(() => User, { createForeignKeyConstraints: false })
  @JoinColumn({ name: "user_id" })
  user: User;

  @Column({ type: "integer", name: "item_id", nullable: true })
  itemId: number | null;

  @ManyToOne(() => Item, { nullable: true, createForeignKeyConstraints: false })
  @JoinColumn({ name: "item_id" })
  item: Item | null;

  @Column({ type: "real", nullable: true })
  rating: number | null;

  @Column({ type: "text" })
  text: string;

  @Column({ type: "text", nullable: true })
  summary: string | null;

  /** Unix time in seconds, when the source gives one. */
  @Column({ type: "integer", nullable: true })
  time: number | null;
}
