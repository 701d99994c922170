import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * A running job belongs to the server process that runs it: its owner, and when its lease ends unless
 * the owner renews it (milliseconds since the epoch); a cancel asked on another server waits for the owner.
 */
export class JobLeases1764600000000 implements MigrationInterface {
  name = "JobLeases1764600000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "training_jobs" ADD COLUMN "owner" text`);
    await queryRunner.query(`ALTER TABLE "training_jobs" ADD COLUMN "lease_expires_at" integer`);
    await queryRunner.query(`ALTER TABLE "training_jobs" ADD COLUMN "cancel_requested" boolean NOT NULL DEFAULT (0)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "training_jobs" DROP COLUMN "cancel_requested"`);
    await queryRunner.query(`ALTER TABLE "training_jobs" DROP COLUMN "lease_expires_at"`);
    await queryRunner.query(`ALTER TABLE "training_jobs" DROP COLUMN "owner"`);
  }
}
