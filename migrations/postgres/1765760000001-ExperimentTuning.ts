import type { MigrationInterface, QueryRunner } from "typeorm";

/** PostgreSQL's side of migrations/1765760000001-ExperimentTuning.ts: experiments record their tuning trials per model (0: untuned). */
export class PostgresExperimentTuning1765760000001 implements MigrationInterface {
  name = "PostgresExperimentTuning1765760000001";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" ADD "tune_trials" integer NOT NULL DEFAULT 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "tune_trials"`);
  }
}
