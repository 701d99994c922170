import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Batch scoring over every instance: an export asked with --shards (export_jobs), its shards as jobs
 * of the one job queue (export_shards, with a job's owner, lease and cancel columns), and the lines
 * each attempt of a shard wrote (export_shard_parts), read back in order by the exporting process.
 */
export class ExportShards1765790000000 implements MigrationInterface {
  name = "ExportShards1765790000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "export_jobs" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "model_id" integer NOT NULL, "settings" text NOT NULL, "user_count" integer NOT NULL, "shard_count" integer NOT NULL, "status" text NOT NULL, "owner" text, "lease_expires_at" integer, "cancel_requested" boolean NOT NULL DEFAULT (0), "error" text, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "finished_at" datetime)`,
    );
    await queryRunner.query(
      `CREATE TABLE "export_shards" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "export_id" integer NOT NULL, "shard_index" integer NOT NULL, "first_position" integer NOT NULL, "end_position" integer NOT NULL, "status" text NOT NULL, "attempts" integer NOT NULL DEFAULT (0), "owner" text, "lease_expires_at" integer, "cancel_requested" boolean NOT NULL DEFAULT (0), "lines" integer NOT NULL DEFAULT (0), "error" text, "finished_at" datetime, CONSTRAINT "FK_export_shards_export" FOREIGN KEY ("export_id") REFERENCES "export_jobs" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_export_shards_status" ON "export_shards" ("status") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_export_shards_export_index" ON "export_shards" ("export_id", "shard_index") `);
    await queryRunner.query(
      `CREATE TABLE "export_shard_parts" ("shard_id" integer NOT NULL, "attempt" integer NOT NULL, "seq" integer NOT NULL, "body" text NOT NULL, CONSTRAINT "FK_export_shard_parts_shard" FOREIGN KEY ("shard_id") REFERENCES "export_shards" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("shard_id", "attempt", "seq"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "export_shard_parts"`);
    await queryRunner.query(`DROP INDEX "IDX_export_shards_export_index"`);
    await queryRunner.query(`DROP INDEX "IDX_export_shards_status"`);
    await queryRunner.query(`DROP TABLE "export_shards"`);
    await queryRunner.query(`DROP TABLE "export_jobs"`);
  }
}
