import type { MigrationInterface, QueryRunner } from "typeorm";

/** An experiment records how many tuning trials each model had (0: untuned), so tuned and untuned experiments are told apart in SQL. */
export class ExperimentTuning1765760000001 implements MigrationInterface {
  name = "ExperimentTuning1765760000001";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" ADD COLUMN "tune_trials" integer NOT NULL DEFAULT (0)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "tune_trials"`);
  }
}
