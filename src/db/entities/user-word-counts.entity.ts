import { Column, Entity, Index, JoinColumn, OneToOne, PrimaryColumn } from "typeorm";
import { User } from "./user.entity.ts";

/**
 * A user's bag of words as two packed little-endian arrays (Int32 word indices ascending, Float32
 * counts): one row per user instead of ~300, so the whole matrix loads in one fast scan.
 */
@Entity({ name: "user_word_counts" })
export class UserWordCounts {
  @PrimaryColumn({ type: "integer", name: "user_id" })
  userId: number;

  @OneToOne(() => User, { onDelete: "CASCADE" })
  @JoinColumn({ name: "user_id" })
  user: User;

  @Column({ type: "integer", name: "dataset_id" })
  @Index("IDX_user_word_counts_dataset")
  datasetId: number;

  @Column({ type: "integer", name: "distinct_words" })
  distinctWords: number;

  @Column({ type: "blob" })
  indices: Buffer;

  @Column({ type: "blob" })
  counts: Buffer;
}
