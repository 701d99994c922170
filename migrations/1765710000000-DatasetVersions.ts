import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * A dataset has a version (1 after its ingest, one more per append that added something), and a trained
 * model records the version and the user and item counts it was trained on; models trained before this
 * migration were trained on version 1 at the dataset's present sizes, since nothing could be appended then.
 */
export class DatasetVersions1765710000000 implements MigrationInterface {
  name = "DatasetVersions1765710000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "datasets" ADD COLUMN "version" integer NOT NULL DEFAULT (1)`);
    await queryRunner.query(`ALTER TABLE "trained_models" ADD COLUMN "dataset_version" integer NOT NULL DEFAULT (1)`);
    await queryRunner.query(`ALTER TABLE "trained_models" ADD COLUMN "user_count" integer NOT NULL DEFAULT (0)`);
    await queryRunner.query(`ALTER TABLE "trained_models" ADD COLUMN "item_count" integer NOT NULL DEFAULT (0)`);
    await queryRunner.query(
      `UPDATE "trained_models" SET "user_count" = (SELECT "user_count" FROM "datasets" d WHERE d."id" = "trained_models"."dataset_id"), ` +
        `"item_count" = (SELECT "item_count" FROM "datasets" d WHERE d."id" = "trained_models"."dataset_id")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "item_count"`);
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "user_count"`);
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "dataset_version"`);
    await queryRunner.query(`ALTER TABLE "datasets" DROP COLUMN "version"`);
  }
}
