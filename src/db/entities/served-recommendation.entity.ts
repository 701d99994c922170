import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/**
 * One item a model alias served to a user (the serving log of an alias with logServing on), kept for
 * the retention that src/services/model-aliases.ts states; aliasReport counts its online hit rate.
 */
@Entity({ name: "served_recommendations" })
@Index("IDX_served_recommendations_alias", ["datasetId", "alias", "servedAt"])
export class ServedRecommendation {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "text" })
  alias: string;

  /** The model that served it (the alias's model or its candidate). */
  @Column({ type: "integer", name: "model_id" })
  modelId: number;

  @Column({ type: "integer", name: "user_id" })
  userId: number;

  /** The item's column in the dataset's matrices (what the ranking gives). */
  @Column({ type: "integer", name: "item_column" })
  itemColumn: number;

  /** The highest click id when it was served: a click of the user on the item with a higher id came later. */
  @Column({ type: "integer", name: "click_mark" })
  clickMark: number;

  @CreateDateColumn({ type: "datetime", name: "served_at" })
  servedAt: Date;
}
