import type { MigrationInterface, QueryRunner } from "typeorm";

/** The trained_models table: one row per training run, its metrics and its checkpoint folder. */
export class TrainedModels1764300000000 implements MigrationInterface {
  name = "TrainedModels1764300000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "trained_models" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "variant" text NOT NULL, "config" text NOT NULL, "backend" text NOT NULL, "status" text NOT NULL, "error" text, "best_epoch" integer NOT NULL DEFAULT (0), "seconds_per_epoch" real, "test_metrics" text, "history" text NOT NULL, "checkpoint_path" text, "dataset_fingerprint" text, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_6aabc7ee4e439a6ceaa275788bc" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_trained_models_dataset" ON "trained_models" ("dataset_id") `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_trained_models_dataset"`);
    await queryRunner.query(`DROP TABLE "trained_models"`);
  }
}
