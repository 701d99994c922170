import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from "typeorm";
import { TrainedModel } from "./trained-model.entity.ts";

/**
 * PostgreSQL only: one file of a model's checkpoint folder kept in the database, so every server
 * serves a model any server trained (checkpoint-store.ts). Its bytes are in checkpoint_chunks.
 */
@Entity({ name: "checkpoint_files" })
export class CheckpointFile {
  @PrimaryColumn({ type: "integer", name: "model_id" })
  modelId: number;

  @ManyToOne(() => TrainedModel, { onDelete: "CASCADE" })
  @JoinColumn({ name: "model_id" })
  model: TrainedModel;

  /** File name inside the folder (manifest.json, weights.bin). */
  @PrimaryColumn({ type: "text" })
  name: string;

  @Column({ type: "bigint" })
  size: number;

  /** SHA-256 of the whole file, hex: checked when the file is fetched. */
  @Column({ type: "text" })
  sha256: string;

  @Column({ type: "integer" })
  chunks: number;
}

/** PostgreSQL only: one piece of a checkpoint file (chunked bytea: no value near PostgreSQL's 1 GB limit). */
@Entity({ name: "checkpoint_chunks" })
export class CheckpointChunk {
  @PrimaryColumn({ type: "integer", name: "model_id" })
  modelId: number;

  @ManyToOne(() => TrainedModel, { onDelete: "CASCADE" })
  @JoinColumn({ name: "model_id" })
  model: TrainedModel;

  @PrimaryColumn({ type: "text" })
  name: string;

  @PrimaryColumn({ type: "integer" })
  part: number;

  @Column({ type: "blob" })
  bytes: Buffer;
}
