import type { MigrationInterface, QueryRunner } from "typeorm";

/** Tables whose changes every server's caches must hear of (datasets, models, item and user metadata). */
const WATCHED = ["datasets", "trained_models", "items", "users"];

/**
 * PostgreSQL only: a commit that changes the catalog sends NOTIFY vcm_catalog with the writer's
 * application_name (src/db/commit-watch.ts listens, and ignores its own process's commits). NOTIFY is
 * delivered at commit and never for a rolled-back change; once per transaction and payload.
 */
export class CatalogNotify1765100000000 implements MigrationInterface {
  name = "CatalogNotify1765100000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE FUNCTION vcm_notify_catalog() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('vcm_catalog', current_setting('application_name')); RETURN NULL; END $$`,
    );
    for (const table of WATCHED) {
      await queryRunner.query(`CREATE TRIGGER "vcm_notify_${table}" AFTER INSERT OR UPDATE OR DELETE ON "${table}" FOR EACH STATEMENT EXECUTE FUNCTION vcm_notify_catalog()`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of WATCHED) await queryRunner.query(`DROP TRIGGER "vcm_notify_${table}" ON "${table}"`);
    await queryRunner.query(`DROP FUNCTION vcm_notify_catalog()`);
  }
}
