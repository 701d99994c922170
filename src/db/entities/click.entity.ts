import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";
import { Item } from "./item.entity.ts";
import { User } from "./user.entity.ts";

/** The split a click was assigned to (60/20/20 per user). */
export type ClickSplit = "train" | "validation" | "test";

/** One distinct (user, item) click after binarisation, deduplication and filtering. */
@Entity({ name: "clicks" })
@Index("IDX_clicks_user_item", ["userId", "itemId"], { unique: true })
@Index("IDX_clicks_item", ["itemId"])
@Index("IDX_clicks_dataset_split", ["datasetId", "split"])
export class Click {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  // No foreign key on dataset_id either (migration 1765500000000): its per-row check was a quarter of
  // the clicks' COPY on PostgreSQL, and the clicks are written in the same transaction as their
  // dataset; every deletion of a dataset deletes its clicks itself (dataset-deletion.ts).
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

  @Column({ type: "integer", name: "item_id" })
  itemId: number;

  @ManyToOne(() => Item, { createForeignKeyConstraints: false })
  @JoinColumn({ name: "item_id" })
  item: Item;

  @Column({ type: "text" })
  split: ClickSplit;
}
