import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/** An item kept by preprocessing; columnIndex is its column in the click matrices. */
@Entity({ name: "items" })
@Index("IDX_items_dataset_external", ["datasetId", "externalId"], { unique: true })
@Index("IDX_items_dataset_column", ["datasetId", "columnIndex"], { unique: true })
export class Item {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "text", name: "external_id" })
  externalId: string;

  @Column({ type: "integer", name: "column_index" })
  columnIndex: number;

  /** Users who clicked the item, over all splits. */
  @Column({ type: "integer", name: "click_count" })
  clickCount: number;

  /** Users who clicked the item in the training split (the popularity baseline). */
  @Column({ type: "integer", name: "train_click_count" })
  trainClickCount: number;
}
