import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * PostgreSQL only: every committed change of a training job sends NOTIFY vcm_jobs with "ID WRITER"
 * (the job's id and the writer's application_name), so that servers relay the updates of jobs other
 * servers run to their own `trainingJobUpdated` subscribers (src/db/commit-watch.ts).
 */
export class JobNotify1765300000000 implements MigrationInterface {
  name = "JobNotify1765300000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE FUNCTION vcm_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('vcm_jobs', NEW.id::text || ' ' || current_setting('application_name')); RETURN NULL; END $$`,
    );
    await queryRunner.query(`CREATE TRIGGER "vcm_notify_training_jobs" AFTER INSERT OR UPDATE ON "training_jobs" FOR EACH ROW EXECUTE FUNCTION vcm_notify_job()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "vcm_notify_training_jobs" ON "training_jobs"`);
    await queryRunner.query(`DROP FUNCTION vcm_notify_job()`);
  }
}
