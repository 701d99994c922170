import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Clicks and reviews keep one foreign key, dataset_id (its cascade removes them with their dataset),
 * and lose those on user_id and item_id: every ingest writes those ids in the same transaction as the
 * users and items they were read back from, and users and items are only ever deleted with their
 * dataset. The two keys' per-row checks were two thirds of an ingest's write time on PostgreSQL
 * (BENCHMARKS.md, "Ingestion"). SQLite cannot drop a constraint, so both tables are rebuilt.
 */
export class DatasetKeysOnly1765400000000 implements MigrationInterface {
  name = "DatasetKeysOnly1765400000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"IDX_clicks_user_item\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_item\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_dataset_split\"");
    await queryRunner.query("CREATE TABLE \"temporary_clicks\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer NOT NULL, \"split\" text NOT NULL, CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION)");
    await queryRunner.query("INSERT INTO \"temporary_clicks\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\" FROM \"clicks\"");
    await queryRunner.query("DROP TABLE \"clicks\"");
    await queryRunner.query("ALTER TABLE \"temporary_clicks\" RENAME TO \"clicks\"");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_clicks_user_item\" ON \"clicks\" (\"user_id\", \"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_item\" ON \"clicks\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_dataset_split\" ON \"clicks\" (\"dataset_id\", \"split\")");
    await queryRunner.query("DROP INDEX \"IDX_reviews_user\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_item\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_dataset\"");
    await queryRunner.query("CREATE TABLE \"temporary_reviews\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer, \"rating\" real, \"text\" text NOT NULL, \"summary\" text, \"time\" integer, CONSTRAINT \"FK_30b663091377e37f4de73405fa4\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION)");
    await queryRunner.query("INSERT INTO \"temporary_reviews\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\" FROM \"reviews\"");
    await queryRunner.query("DROP TABLE \"reviews\"");
    await queryRunner.query("ALTER TABLE \"temporary_reviews\" RENAME TO \"reviews\"");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_user\" ON \"reviews\" (\"user_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_item\" ON \"reviews\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_dataset\" ON \"reviews\" (\"dataset_id\")");
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"IDX_reviews_dataset\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_item\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_user\"");
    await queryRunner.query("ALTER TABLE \"reviews\" RENAME TO \"temporary_reviews\"");
    await queryRunner.query("CREATE TABLE \"reviews\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer, \"rating\" real, \"text\" text NOT NULL, \"summary\" text, \"time\" integer, CONSTRAINT \"FK_7eb6c6de6822c913ea9f772621e\" FOREIGN KEY (\"item_id\") REFERENCES \"items\" (\"id\") ON DELETE SET NULL ON UPDATE NO ACTION, CONSTRAINT \"FK_728447781a30bc3fcfe5c2f1cdf\" FOREIGN KEY (\"user_id\") REFERENCES \"users\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT \"FK_30b663091377e37f4de73405fa4\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION)");
    await queryRunner.query("INSERT INTO \"reviews\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\" FROM \"temporary_reviews\"");
    await queryRunner.query("DROP TABLE \"temporary_reviews\"");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_dataset\" ON \"reviews\" (\"dataset_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_item\" ON \"reviews\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_user\" ON \"reviews\" (\"user_id\")");
    await queryRunner.query("DROP INDEX \"IDX_clicks_dataset_split\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_item\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_user_item\"");
    await queryRunner.query("ALTER TABLE \"clicks\" RENAME TO \"temporary_clicks\"");
    await queryRunner.query("CREATE TABLE \"clicks\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer NOT NULL, \"split\" text NOT NULL, CONSTRAINT \"FK_0f7354eea353f5d80fe1e632b74\" FOREIGN KEY (\"item_id\") REFERENCES \"items\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT \"FK_84958dbd195db0508ca0d994dec\" FOREIGN KEY (\"user_id\") REFERENCES \"users\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION)");
    await queryRunner.query("INSERT INTO \"clicks\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\" FROM \"temporary_clicks\"");
    await queryRunner.query("DROP TABLE \"temporary_clicks\"");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_dataset_split\" ON \"clicks\" (\"dataset_id\", \"split\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_item\" ON \"clicks\" (\"item_id\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_clicks_user_item\" ON \"clicks\" (\"user_id\", \"item_id\")");
  }
}
