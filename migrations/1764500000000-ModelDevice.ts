import type { MigrationInterface, QueryRunner } from "typeorm";

/** What ran the engine's kernels for each model (the GPU adapter on webgpu), beside its backend. */
export class ModelDevice1764500000000 implements MigrationInterface {
  name = "ModelDevice1764500000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "trained_models" ADD COLUMN "device" text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "trained_models" DROP COLUMN "device"`);
  }
}
