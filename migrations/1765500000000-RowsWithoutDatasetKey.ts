import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Clicks and reviews lose their last foreign key, dataset_id. On PostgreSQL an ingest writes its
 * reviews on a second connection while the first writes the dataset, its users, items and clicks, and
 * commits the reviews first (src/db/dataset-writer-postgres.ts): a key would have that connection check
 * a dataset row it cannot see yet. The clicks' key cost a quarter of their COPY and guarded nothing the
 * ingest's one transaction does not. Every deletion of a dataset now deletes its clicks and reviews in
 * the same transaction (src/db/dataset-deletion.ts). SQLite cannot drop a constraint, so both tables are
 * rebuilt.
 */
export class RowsWithoutDatasetKey1765500000000 implements MigrationInterface {
  name = "RowsWithoutDatasetKey1765500000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"IDX_clicks_dataset_split\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_item\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_user_item\"");
    await queryRunner.query("CREATE TABLE \"temporary_clicks\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer NOT NULL, \"split\" text NOT NULL)");
    await queryRunner.query("INSERT INTO \"temporary_clicks\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\" FROM \"clicks\"");
    await queryRunner.query("DROP TABLE \"clicks\"");
    await queryRunner.query("ALTER TABLE \"temporary_clicks\" RENAME TO \"clicks\"");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_dataset_split\" ON \"clicks\" (\"dataset_id\", \"split\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_item\" ON \"clicks\" (\"item_id\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_clicks_user_item\" ON \"clicks\" (\"user_id\", \"item_id\")");
    await queryRunner.query("DROP INDEX \"IDX_reviews_dataset\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_item\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_user\"");
    await queryRunner.query("CREATE TABLE \"temporary_reviews\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer, \"rating\" real, \"text\" text NOT NULL, \"summary\" text, \"time\" integer)");
    await queryRunner.query("INSERT INTO \"temporary_reviews\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\" FROM \"reviews\"");
    await queryRunner.query("DROP TABLE \"reviews\"");
    await queryRunner.query("ALTER TABLE \"temporary_reviews\" RENAME TO \"reviews\"");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_dataset\" ON \"reviews\" (\"dataset_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_item\" ON \"reviews\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_user\" ON \"reviews\" (\"user_id\")");
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"IDX_reviews_user\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_item\"");
    await queryRunner.query("DROP INDEX \"IDX_reviews_dataset\"");
    await queryRunner.query("ALTER TABLE \"reviews\" RENAME TO \"temporary_reviews\"");
    await queryRunner.query("CREATE TABLE \"reviews\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer, \"rating\" real, \"text\" text NOT NULL, \"summary\" text, \"time\" integer, CONSTRAINT \"FK_30b663091377e37f4de73405fa4\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION)");
    // Rows whose dataset is gone could not satisfy the key again.
    await queryRunner.query("INSERT INTO \"reviews\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"rating\", \"text\", \"summary\", \"time\" FROM \"temporary_reviews\" WHERE \"dataset_id\" IN (SELECT \"id\" FROM \"datasets\")");
    await queryRunner.query("DROP TABLE \"temporary_reviews\"");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_user\" ON \"reviews\" (\"user_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_item\" ON \"reviews\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_dataset\" ON \"reviews\" (\"dataset_id\")");
    await queryRunner.query("DROP INDEX \"IDX_clicks_user_item\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_item\"");
    await queryRunner.query("DROP INDEX \"IDX_clicks_dataset_split\"");
    await queryRunner.query("ALTER TABLE \"clicks\" RENAME TO \"temporary_clicks\"");
    await queryRunner.query("CREATE TABLE \"clicks\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer NOT NULL, \"split\" text NOT NULL, CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION)");
    await queryRunner.query("INSERT INTO \"clicks\"(\"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\") SELECT \"id\", \"dataset_id\", \"user_id\", \"item_id\", \"split\" FROM \"temporary_clicks\" WHERE \"dataset_id\" IN (SELECT \"id\" FROM \"datasets\")");
    await queryRunner.query("DROP TABLE \"temporary_clicks\"");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_clicks_user_item\" ON \"clicks\" (\"user_id\", \"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_item\" ON \"clicks\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_dataset_split\" ON \"clicks\" (\"dataset_id\", \"split\")");
  }
}
