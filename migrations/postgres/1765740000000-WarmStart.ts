import type { MigrationInterface, QueryRunner } from "typeorm";

/** PostgreSQL's side of migrations/1765740000000-WarmStart.ts: models and jobs record the model a warm start continued from. */
export class PostgresWarmStart1765740000000 implements MigrationInterface {
  name = "PostgresWarmStart1765740000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "trained_models" ADD "from_model_id" integer`);
    await queryRunner.query(`ALTER TABLE "training_jobs" ADD "from_model_id" integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "training_jobs" DROP COLUMN "from_model_id"`);
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "from_model_id"`);
  }
}
