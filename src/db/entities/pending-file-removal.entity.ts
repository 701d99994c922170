import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from "typeorm";

/** A checkpoint folder to delete, recorded in the transaction that removed its model rows (file-removals.ts). */
@Entity({ name: "pending_file_removals" })
export class PendingFileRemoval {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "text" })
  path: string;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;
}
