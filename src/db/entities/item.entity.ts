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

  /** Name or title from the dataset's metadata file, when one was attached (vcm metadata, ingest --items). */
  @Column({ type: "text", nullable: true })
  title: string | null;

  /** Categories or tags from the metadata, in the source's order. */
  @Column({ type: "simple-json", nullable: true })
  categories: string[] | null;

  /** Other fields of the metadata record (brand, city, price…). */
  @Column({ type: "simple-json", nullable: true })
  attributes: Record<string, unknown> | null;
}
