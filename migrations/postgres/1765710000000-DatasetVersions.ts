import type { MigrationInterface, QueryRunner } from "typeorm";

/** PostgreSQL's side of migrations/1765710000000-DatasetVersions.ts: a dataset's version, and the version and sizes a model was trained on. */
export class PostgresDatasetVersions1765710000000 implements MigrationInterface {
  name = "PostgresDatasetVersions1765710000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "datasets" ADD "version" integer NOT NULL DEFAULT 1`);
    await queryRunner.query(`ALTER TABLE "trained_models" ADD "dataset_version" integer NOT NULL DEFAULT 1`);
    await queryRunner.query(`ALTER TABLE "trained_models" ADD "user_count" integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE "trained_models" ADD "item_count" integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`UPDATE "trained_models" m SET "user_count" = d."user_count", "item_count" = d."item_count" FROM "datasets" d WHERE d."id" = m."dataset_id"`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "item_count"`);
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "user_count"`);
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "dataset_version"`);
    await queryRunner.query(`ALTER TABLE "datasets" DROP COLUMN "version"`);
  }
}
