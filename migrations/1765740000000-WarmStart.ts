import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * A warm start records the model it continued from, on its training job and on the new model (not a
 * foreign key, like training_jobs.model_id: deleting the source model keeps the record of where a model came from).
 */
export class WarmStart1765740000000 implements MigrationInterface {
  name = "WarmStart1765740000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "trained_models" ADD COLUMN "from_model_id" integer`);
    await queryRunner.query(`ALTER TABLE "training_jobs" ADD COLUMN "from_model_id" integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "training_jobs" DROP COLUMN "from_model_id"`);
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "from_model_id"`);
  }
}
