import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { Dataset } from "./dataset.entity.ts";

/** One vocabulary word; wordIndex is its column in the bag-of-words matrix (0 = most frequent). */
@Entity({ name: "words" })
@Index("IDX_words_dataset_index", ["datasetId", "wordIndex"], { unique: true })
@Index("IDX_words_dataset_word", ["datasetId", "word"], { unique: true })
export class Word {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "dataset_id" })
  datasetId: number;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "dataset_id" })
  dataset: Dataset;

  @Column({ type: "integer", name: "word_index" })
  wordIndex: number;

  @Column({ type: "text" })
  word: string;

  /** Occurrences in the texts that feed the bags of words. */
  @Column({ type: "integer" })
  count: number;

  /** Users whose bag of words contains the word. */
  @Column({ type: "integer", name: "document_frequency" })
  documentFrequency: number;
}
