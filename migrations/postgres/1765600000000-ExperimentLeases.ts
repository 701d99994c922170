import type { MigrationInterface, QueryRunner } from "typeorm";

/** PostgreSQL's side of migrations/1765600000000-ExperimentLeases.ts: experiments get an owner, a lease, a cancel request and their current model. */
export class PostgresExperimentLeases1765600000000 implements MigrationInterface {
  name = "PostgresExperimentLeases1765600000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" ADD "owner" text`);
    await queryRunner.query(`ALTER TABLE "experiments" ADD "lease_expires_at" bigint`);
    await queryRunner.query(`ALTER TABLE "experiments" ADD "cancel_requested" boolean NOT NULL DEFAULT false`);
    await queryRunner.query(`ALTER TABLE "experiments" ADD "model_id" integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "model_id"`);
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "cancel_requested"`);
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "lease_expires_at"`);
    await queryRunner.query(`ALTER TABLE "experiments" DROP COLUMN "owner"`);
  }
}
