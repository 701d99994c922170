import { CreateDateColumn, Entity, PrimaryColumn } from "typeorm";

/**
 * PostgreSQL only: an ingest whose reviews may be committed while its dataset is not yet
 * (dataset-writer-postgres.ts writes the two on two connections and commits the reviews first). The
 * row is committed before the reviews and deleted in the dataset's own transaction, so a row left
 * behind names reviews of a dataset that never appeared; the next ingest deletes them.
 */
@Entity({ name: "unfinished_review_writes" })
export class UnfinishedReviewWrite {
  @PrimaryColumn({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;
}
