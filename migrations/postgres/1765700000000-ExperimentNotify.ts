import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * PostgreSQL only: experiments notify vcm_jobs as training jobs do (JobNotify), so that servers relay
 * the changes of experiments other servers run to their own `experimentUpdated` subscribers; the
 * payload now names the table first, "TABLE ID WRITER", so one listener serves every kind of job
 * (src/db/commit-watch.ts).
 */
export class ExperimentNotify1765700000000 implements MigrationInterface {
  name = "ExperimentNotify1765700000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE OR REPLACE FUNCTION vcm_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('vcm_jobs', TG_TABLE_NAME || ' ' || NEW.id::text || ' ' || current_setting('application_name')); RETURN NULL; END $$`,
    );
    await queryRunner.query(`CREATE TRIGGER "vcm_notify_experiments" AFTER INSERT OR UPDATE ON "experiments" FOR EACH ROW EXECUTE FUNCTION vcm_notify_job()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "vcm_notify_experiments" ON "experiments"`);
    await queryRunner.query(
      `CREATE OR REPLACE FUNCTION vcm_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('vcm_jobs', NEW.id::text || ' ' || current_setting('application_name')); RETURN NULL; END $$`,
    );
  }
}
