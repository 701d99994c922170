import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * PostgreSQL's side of migrations/1765400000000-DatasetKeysOnly.ts: clicks and reviews keep one foreign key, dataset_id (its cascade removes them with their dataset),
 * and lose those on user_id and item_id: every ingest writes those ids in the same transaction as the
 * users and items they were read back from, and users and items are only ever deleted with their
 * dataset. The two keys' per-row checks were two thirds of an ingest's write time on PostgreSQL
 * (BENCHMARKS.md, "Ingestion").
 */
export class PostgresDatasetKeysOnly1765400000000 implements MigrationInterface {
  name = "PostgresDatasetKeysOnly1765400000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"clicks\" DROP CONSTRAINT \"FK_84958dbd195db0508ca0d994dec\"");
    await queryRunner.query("ALTER TABLE \"clicks\" DROP CONSTRAINT \"FK_0f7354eea353f5d80fe1e632b74\"");
    await queryRunner.query("ALTER TABLE \"reviews\" DROP CONSTRAINT \"FK_728447781a30bc3fcfe5c2f1cdf\"");
    await queryRunner.query("ALTER TABLE \"reviews\" DROP CONSTRAINT \"FK_7eb6c6de6822c913ea9f772621e\"");
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"reviews\" ADD CONSTRAINT \"FK_7eb6c6de6822c913ea9f772621e\" FOREIGN KEY (\"item_id\") REFERENCES \"items\"(\"id\") ON DELETE SET NULL ON UPDATE NO ACTION");
    await queryRunner.query("ALTER TABLE \"reviews\" ADD CONSTRAINT \"FK_728447781a30bc3fcfe5c2f1cdf\" FOREIGN KEY (\"user_id\") REFERENCES \"users\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION");
    await queryRunner.query("ALTER TABLE \"clicks\" ADD CONSTRAINT \"FK_0f7354eea353f5d80fe1e632b74\" FOREIGN KEY (\"item_id\") REFERENCES \"items\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION");
    await queryRunner.query("ALTER TABLE \"clicks\" ADD CONSTRAINT \"FK_84958dbd195db0508ca0d994dec\" FOREIGN KEY (\"user_id\") REFERENCES \"users\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION");
  }
}
