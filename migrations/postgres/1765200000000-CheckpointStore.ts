import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * PostgreSQL only: checkpoints kept in the database (src/db/checkpoint-store.ts), so that every server
 * on the database serves a model any of them trained. Files are split into chunks; float weights do not
 * compress, so the chunks are stored without PostgreSQL's compression attempt (STORAGE EXTERNAL).
 */
export class CheckpointStore1765200000000 implements MigrationInterface {
  name = "CheckpointStore1765200000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      "CREATE TABLE \"checkpoint_files\" (\"model_id\" integer NOT NULL, \"name\" text NOT NULL, \"size\" bigint NOT NULL, \"sha256\" text NOT NULL, \"chunks\" integer NOT NULL, CONSTRAINT \"PK_87cb312669023f452f2cd7d4909\" PRIMARY KEY (\"model_id\", \"name\"))",
    );
    await queryRunner.query(
      "CREATE TABLE \"checkpoint_chunks\" (\"model_id\" integer NOT NULL, \"name\" text NOT NULL, \"part\" integer NOT NULL, \"bytes\" bytea NOT NULL, CONSTRAINT \"PK_a2d5b2d54451938af46934058e5\" PRIMARY KEY (\"model_id\", \"name\", \"part\"))",
    );
    await queryRunner.query(
      "ALTER TABLE \"checkpoint_files\" ADD CONSTRAINT \"FK_f8ba98124f37a0fd446ddc53dc1\" FOREIGN KEY (\"model_id\") REFERENCES \"trained_models\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"checkpoint_chunks\" ADD CONSTRAINT \"FK_557252cc0c0f4c9fdb947d225e8\" FOREIGN KEY (\"model_id\") REFERENCES \"trained_models\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(`ALTER TABLE "checkpoint_chunks" ALTER COLUMN "bytes" SET STORAGE EXTERNAL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"checkpoint_chunks\" DROP CONSTRAINT \"FK_557252cc0c0f4c9fdb947d225e8\"");
    await queryRunner.query("ALTER TABLE \"checkpoint_files\" DROP CONSTRAINT \"FK_f8ba98124f37a0fd446ddc53dc1\"");
    await queryRunner.query("DROP TABLE \"checkpoint_chunks\"");
    await queryRunner.query("DROP TABLE \"checkpoint_files\"");
  }
}
