import type { MigrationInterface, QueryRunner } from "typeorm";

/** Model aliases with A/B splits and their serving log (src/services/model-aliases.ts). */
export class ModelAliases1765770000001 implements MigrationInterface {
  name = "ModelAliases1765770000001";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "model_aliases" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "name" text NOT NULL, "model_id" integer NOT NULL, "candidate_model_id" integer, "candidate_share" real NOT NULL DEFAULT (0), "log_serving" boolean NOT NULL DEFAULT (0), "updated_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_e49b4bba50f976a3bc60730c131" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_model_aliases_dataset_name" ON "model_aliases" ("dataset_id", "name") `);
    await queryRunner.query(
      `CREATE TABLE "served_recommendations" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "alias" text NOT NULL, "model_id" integer NOT NULL, "user_id" integer NOT NULL, "item_column" integer NOT NULL, "click_mark" integer NOT NULL, "served_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_6eef2a3a790f509d073289adbf6" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_served_recommendations_alias" ON "served_recommendations" ("dataset_id", "alias", "served_at") `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_served_recommendations_alias"`);
    await queryRunner.query(`DROP TABLE "served_recommendations"`);
    await queryRunner.query(`DROP INDEX "IDX_model_aliases_dataset_name"`);
    await queryRunner.query(`DROP TABLE "model_aliases"`);
  }
}
