import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Model aliases and their serving log, as on SQLite (migrations/1765770000001-ModelAliases.ts). A change
 * to an alias notifies vcm_catalog (CatalogNotify's function), so every server's commit watch hears it
 * and reads the aliases again before its next request through one.
 */
export class PostgresModelAliases1765770000001 implements MigrationInterface {
  name = "PostgresModelAliases1765770000001";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "model_aliases" ("id" SERIAL NOT NULL, "dataset_id" integer NOT NULL, "name" text NOT NULL, "model_id" integer NOT NULL, "candidate_model_id" integer, "candidate_share" double precision NOT NULL DEFAULT '0', "log_serving" boolean NOT NULL DEFAULT false, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_7ac276e33d7cdd4a2ad44c01099" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_model_aliases_dataset_name" ON "model_aliases" ("dataset_id", "name") `);
    await queryRunner.query(
      `CREATE TABLE "served_recommendations" ("id" SERIAL NOT NULL, "dataset_id" integer NOT NULL, "alias" text NOT NULL, "model_id" integer NOT NULL, "user_id" integer NOT NULL, "item_column" integer NOT NULL, "click_mark" integer NOT NULL, "served_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_66afdc424b34e10ba2c14df3019" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_served_recommendations_alias" ON "served_recommendations" ("dataset_id", "alias", "served_at") `);
    await queryRunner.query(
      `ALTER TABLE "model_aliases" ADD CONSTRAINT "FK_e49b4bba50f976a3bc60730c131" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "served_recommendations" ADD CONSTRAINT "FK_6eef2a3a790f509d073289adbf6" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(`CREATE TRIGGER "vcm_notify_model_aliases" AFTER INSERT OR UPDATE OR DELETE ON "model_aliases" FOR EACH STATEMENT EXECUTE FUNCTION vcm_notify_catalog()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "vcm_notify_model_aliases" ON "model_aliases"`);
    await queryRunner.query(`DROP TABLE "served_recommendations"`);
    await queryRunner.query(`DROP TABLE "model_aliases"`);
  }
}
