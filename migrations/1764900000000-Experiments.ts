import type { MigrationInterface, QueryRunner } from "typeorm";

/** Experiments (vcm experiment): their arguments, progress and result tables, queryable over GraphQL. */
export class Experiments1764900000000 implements MigrationInterface {
  name = "Experiments1764900000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "experiments" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "key" text NOT NULL, "args" text NOT NULL, "out_dir" text NOT NULL, "status" text NOT NULL, "runs_done" integer NOT NULL DEFAULT (0), "runs_total" integer NOT NULL, "results" text, "error" text, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "finished_at" datetime, CONSTRAINT "FK_experiments_dataset" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_experiments_key_dir" ON "experiments" ("key", "out_dir") `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_experiments_key_dir"`);
    await queryRunner.query(`DROP TABLE "experiments"`);
  }
}
