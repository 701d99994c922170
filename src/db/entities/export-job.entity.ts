import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";

/** What one sharded export writes, as its coordinator was asked (src/services/sharded-export.ts). */
export interface ExportSettings {
  readonly pass: "recommendations";
  readonly k: number;
  readonly format: "csv" | "jsonl";
  /** The explanation rule, or null for the API's default. */
  readonly rule: string | null;
  readonly explanationWords: number;
  /** External user ids, or null for every user of the dataset. */
  readonly users: ReadonlyArray<string> | null;
}

/** A cohort evaluation (every test user's figures, src/services/sharded-cohorts.ts); its shards cut the test users. */
export interface CohortEvaluationSettings {
  readonly pass: "cohortEvaluation";
}

/** An evaluation on the test split in a mode (vcm | vcm-cd, src/services/model-evaluation.ts); its shards cut the users with test clicks. */
export interface TestEvaluationSettings {
  readonly pass: "testEvaluation";
  readonly mode: string;
}

/** What a pass over users split into shards computes: its shards' workers dispatch on `pass`. */
export type ShardedPassSettings = ExportSettings | CohortEvaluationSettings | TestEvaluationSettings;

/**
 * One pass over users split into shards (`vcm export recommendations --shards N`, a sharded cohort or
 * test evaluation; the table keeps the export's name, which came first): the process that asked for it (its owner, holding a
 * lease as a job's owner does) waits for its shards and writes the file from their parts; when that
 * process is gone, any server fails the export and drops its shards.
 */
@Entity({ name: "export_jobs" })
export class ExportJob {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "model_id" })
  modelId: number;

  @Column({ type: "simple-json" })
  settings: ShardedPassSettings;

  /** Users of the pass, in its order; shards cut this list into contiguous ranges. */
  @Column({ type: "integer", name: "user_count" })
  userCount: number;

  @Column({ type: "integer", name: "shard_count" })
  shardCount: number;

  /** running | done | failed | cancelled. */
  @Column({ type: "text" })
  status: string;

  @Column({ type: "text", nullable: true })
  owner: string | null;

  /** When the owner's lease ends unless renewed, in milliseconds since the epoch. */
  @Column({ type: "integer", name: "lease_expires_at", nullable: true })
  leaseExpiresAt: number | null;

  @Column({ type: "boolean", name: "cancel_requested", default: false })
  cancelRequested: boolean;

  @Column({ type: "text", nullable: true })
  error: string | null;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;

  @Column({ type: "datetime", name: "finished_at", nullable: true })
  finishedAt: Date | null;
}

/**
 * One shard of an export: users [firstPosition, endPosition) of its list, a job of the one job queue
 * (any server's worker, or the exporting process's own, claims it). A shard whose worker dies is
 * queued again until MAX_SHARD_ATTEMPTS; each attempt writes its own parts, so a retry never mixes
 * with a dead attempt's lines.
 */
@Entity({ name: "export_shards" })
@Index("IDX_export_shards_export_index", ["exportId", "shardIndex"], { unique: true })
@Index("IDX_export_shards_status", ["status"])
export class ExportShard {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "integer", name: "export_id" })
  exportId: number;

  @ManyToOne(() => ExportJob, { onDelete: "CASCADE" })
  @JoinColumn({ name: "export_id", foreignKeyConstraintName: "FK_export_shards_export" })
  export?: ExportJob;

  @Column({ type: "integer", name: "shard_index" })
  shardIndex: number;

  @Column({ type: "integer", name: "first_position" })
  firstPosition: number;

  @Column({ type: "integer", name: "end_position" })
  endPosition: number;

  /** queued | running | done | failed | cancelled. */
  @Column({ type: "text" })
  status: string;

  /** Attempts started; the parts of the attempt that finished are the shard's lines. */
  @Column({ type: "integer", default: 0 })
  attempts: number;

  /** The process that runs it, or that ran it once done (host:pid:random, db/job-leases.ts). */
  @Column({ type: "text", nullable: true })
  owner: string | null;

  @Column({ type: "integer", name: "lease_expires_at", nullable: true })
  leaseExpiresAt: number | null;

  @Column({ type: "boolean", name: "cancel_requested", default: false })
  cancelRequested: boolean;

  /** Lines written by the attempt that finished. */
  @Column({ type: "integer", default: 0 })
  lines: number;

  @Column({ type: "text", nullable: true })
  error: string | null;

  @Column({ type: "datetime", name: "finished_at", nullable: true })
  finishedAt: Date | null;
}

/** A run of lines of one attempt of a shard, in order of `seq`. */
@Entity({ name: "export_shard_parts" })
export class ExportShardPart {
  @PrimaryColumn({ type: "integer", name: "shard_id" })
  shardId: number;

  @PrimaryColumn({ type: "integer" })
  attempt: number;

  @PrimaryColumn({ type: "integer" })
  seq: number;

  @ManyToOne(() => ExportShard, { onDelete: "CASCADE" })
  @JoinColumn({ name: "shard_id", foreignKeyConstraintName: "FK_export_shard_parts_shard" })
  shard?: ExportShard;

  /** Lines, each ending in a newline. */
  @Column({ type: "text" })
  body: string;
}
