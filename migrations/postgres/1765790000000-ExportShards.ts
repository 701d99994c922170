import type { MigrationInterface, QueryRunner } from "typeorm";

/** Batch scoring over every instance, as on SQLite (migrations/1765790000000-ExportShards.ts). */
export class PostgresExportShards1765790000000 implements MigrationInterface {
  name = "PostgresExportShards1765790000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "export_jobs" ("id" SERIAL NOT NULL, "model_id" integer NOT NULL, "settings" text NOT NULL, "user_count" integer NOT NULL, "shard_count" integer NOT NULL, "status" text NOT NULL, "owner" text, "lease_expires_at" bigint, "cancel_requested" boolean NOT NULL DEFAULT false, "error" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_3044ce6f1c6af24058ee609e063" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "export_shards" ("id" SERIAL NOT NULL, "export_id" integer NOT NULL, "shard_index" integer NOT NULL, "first_position" integer NOT NULL, "end_position" integer NOT NULL, "status" text NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "owner" text, "lease_expires_at" bigint, "cancel_requested" boolean NOT NULL DEFAULT false, "lines" integer NOT NULL DEFAULT '0', "error" text, "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_ab152d8cf4f6cb72f920a124ece" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_export_shards_status" ON "export_shards" ("status") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_export_shards_export_index" ON "export_shards" ("export_id", "shard_index") `);
    await queryRunner.query(
      `CREATE TABLE "export_shard_parts" ("shard_id" integer NOT NULL, "attempt" integer NOT NULL, "seq" integer NOT NULL, "body" text NOT NULL, CONSTRAINT "PK_5c04cfb91e157fab1b900277408" PRIMARY KEY ("shard_id", "attempt", "seq"))`,
    );
    await queryRunner.query(`ALTER TABLE "export_shards" ADD CONSTRAINT "FK_export_shards_export" FOREIGN KEY ("export_id") REFERENCES "export_jobs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "export_shard_parts" ADD CONSTRAINT "FK_export_shard_parts_shard" FOREIGN KEY ("shard_id") REFERENCES "export_shards"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "export_shard_parts"`);
    await queryRunner.query(`DROP TABLE "export_shards"`);
    await queryRunner.query(`DROP TABLE "export_jobs"`);
  }
}
