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

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "integer", name: "user_id" })
  userId: number;

  @ManyToOne(() => User, { onDelete: "CASCADE" })
  @JoinColumn({ name: "user_id" })
  user: User;

  @Column({ type: "integer", name: "item_id" })
  itemId: number;

  @ManyToOne(() => Item, { onDelete: "CASCADE" })
  @JoinColumn({ name: "item_id" })
  item: Item;

  @Column({ type: "text" })
  split: ClickSplit;
}
