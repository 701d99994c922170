import type { MigrationInterface, QueryRunner } from "typeorm";

/** Training jobs started through the API, with their progress and outcome. */
export class TrainingJobs1764400000000 implements MigrationInterface {
  name = "TrainingJobs1764400000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "training_jobs" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "variant" text NOT NULL, "config" text NOT NULL, "status" text NOT NULL, "epoch" integer NOT NULL DEFAULT (0), "total_epochs" integer NOT NULL, "last_epoch" text, "best_val_ndcg100" real, "eta_seconds" real, "model_id" integer, "error" text, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "started_at" datetime, "finished_at" datetime, CONSTRAINT "FK_3a88799101749ac9eb448309a6a" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_training_jobs_status" ON "training_jobs" ("status") `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_training_jobs_status"`);
    await queryRunner.query(`DROP TABLE "training_jobs"`);
  }
}
