import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * An experiment belongs to the process that runs it, as a training job does: its owner, when its lease
 * ends unless renewed (milliseconds since the epoch), a cancel asked elsewhere, and the model its run
 * trains now (failed with it when the owner is gone). Experiments may also be queued or cancelled.
 */
export class ExperimentLeases1765600000000 implements MigrationInterface {
  name = "ExperimentLeases1765600000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" ADD COLUMN "owner" text`);
    await queryRunner.query(`ALTER TABLE "experiments" ADD COLUMN "lease_expires_at" integer`);
    await queryRunner.query(`ALTER TABLE "experiments" ADD COLUMN "cancel_requested" boolean NOT NULL DEFAULT (0)`);
    await queryRunner.query(`ALTER TABLE "experiments" ADD COLUMN "model_id" integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "model_id"`);
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "cancel_requested"`);
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "lease_expires_at"`);
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "owner"`);
  }
}
