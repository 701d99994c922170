import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * PostgreSQL's side of migrations/1765500000000-RowsWithoutDatasetKey.ts: clicks and reviews lose
 * their dataset_id keys, so an ingest can write the reviews on a second connection beside the
 * transaction that creates their dataset (src/db/dataset-writer-postgres.ts). unfinished_review_writes
 * names the ingests whose reviews may be committed before their dataset, so reviews left by one that
 * died are found and deleted (src/db/unfinished-review-writes.ts).
 */
export class PostgresRowsWithoutDatasetKey1765500000000 implements MigrationInterface {
  name = "PostgresRowsWithoutDatasetKey1765500000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"clicks\" DROP CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\"");
    await queryRunner.query("ALTER TABLE \"reviews\" DROP CONSTRAINT \"FK_30b663091377e37f4de73405fa4\"");
    await queryRunner.query("CREATE TABLE \"unfinished_review_writes\" (\"dataset_id\" integer NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_3b0e60d89cf19921e6999790f44\" PRIMARY KEY (\"dataset_id\"))");
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"unfinished_review_writes\"");
    // Rows whose dataset is gone could not satisfy the keys again.
    await queryRunner.query("DELETE FROM \"reviews\" WHERE \"dataset_id\" NOT IN (SELECT \"id\" FROM \"datasets\")");
    await queryRunner.query("DELETE FROM \"clicks\" WHERE \"dataset_id\" NOT IN (SELECT \"id\" FROM \"datasets\")");
    await queryRunner.query("ALTER TABLE \"reviews\" ADD CONSTRAINT \"FK_30b663091377e37f4de73405fa4\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION");
    await queryRunner.query("ALTER TABLE \"clicks\" ADD CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION");
  }
}
