import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The whole schema on PostgreSQL, as the SQLite migrations up to Experiments1764900000000 leave it
 * (generated from the entities by TypeORM's schema builder through data-source.ts's PostgreSQL type
 * names: datetime → timestamptz, blob → bytea, real → double precision, millisecond columns → bigint).
 * test/db/migrations.test.ts proves that it and the SQLite set end in the schema the entities describe.
 */
export class PostgresSchema1765000000000 implements MigrationInterface {
  name = "PostgresSchema1765000000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      "CREATE TABLE \"datasets\" (\"id\" SERIAL NOT NULL, \"name\" text NOT NULL, \"source\" text NOT NULL, \"options\" text NOT NULL, \"user_count\" integer NOT NULL, \"item_count\" integer NOT NULL, \"click_count\" integer NOT NULL, \"train_click_count\" integer NOT NULL, \"validation_click_count\" integer NOT NULL, \"test_click_count\" integer NOT NULL, \"review_count\" integer NOT NULL, \"vocabulary_size\" integer NOT NULL, \"sparsity\" double precision NOT NULL, \"skipped\" text NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"UQ_4a40dadf87d8be1c12c51a13f10\" UNIQUE (\"name\"), CONSTRAINT \"PK_1bf831e43c559a240303e23d038\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query(
      "CREATE TABLE \"items\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"external_id\" text NOT NULL, \"column_index\" integer NOT NULL, \"click_count\" integer NOT NULL, \"train_click_count\" integer NOT NULL, \"title\" text, \"categories\" text, \"attributes\" text, CONSTRAINT \"PK_ba5885359424c15ca6b9e79bcf6\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_items_dataset_column\" ON \"items\" (\"dataset_id\", \"column_index\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_items_dataset_external\" ON \"items\" (\"dataset_id\", \"external_id\")");
    await queryRunner.query(
      "CREATE TABLE \"users\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"external_id\" text NOT NULL, \"row_index\" integer NOT NULL, \"train_click_count\" integer NOT NULL, \"validation_click_count\" integer NOT NULL, \"test_click_count\" integer NOT NULL, \"review_count\" integer NOT NULL, \"word_count\" integer NOT NULL, \"name\" text, CONSTRAINT \"PK_a3ffb1c0c8416b9fc6f907b7433\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE INDEX \"IDX_users_dataset_train_clicks\" ON \"users\" (\"dataset_id\", \"train_click_count\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_users_dataset_row\" ON \"users\" (\"dataset_id\", \"row_index\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_users_dataset_external\" ON \"users\" (\"dataset_id\", \"external_id\")");
    await queryRunner.query(
      "CREATE TABLE \"clicks\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer NOT NULL, \"split\" text NOT NULL, CONSTRAINT \"PK_7765d7ffdeb0ed2675651020814\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE INDEX \"IDX_clicks_dataset_split\" ON \"clicks\" (\"dataset_id\", \"split\")");
    await queryRunner.query("CREATE INDEX \"IDX_clicks_item\" ON \"clicks\" (\"item_id\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_clicks_user_item\" ON \"clicks\" (\"user_id\", \"item_id\")");
    await queryRunner.query(
      "CREATE TABLE \"experiments\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"key\" text NOT NULL, \"args\" text NOT NULL, \"out_dir\" text NOT NULL, \"status\" text NOT NULL, \"runs_done\" integer NOT NULL DEFAULT '0', \"runs_total\" integer NOT NULL, \"results\" text, \"error\" text, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"finished_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_aafe1321d916fac58ba06ad8178\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_experiments_key_dir\" ON \"experiments\" (\"key\", \"out_dir\")");
    await queryRunner.query(
      "CREATE TABLE \"pending_file_removals\" (\"id\" SERIAL NOT NULL, \"path\" text NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_ba1bc8a8792ce3ec5a48946e19b\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query(
      "CREATE TABLE \"reviews\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"user_id\" integer NOT NULL, \"item_id\" integer, \"rating\" double precision, \"text\" text NOT NULL, \"summary\" text, \"time\" bigint, CONSTRAINT \"PK_231ae565c273ee700b283f15c1d\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE INDEX \"IDX_reviews_dataset\" ON \"reviews\" (\"dataset_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_item\" ON \"reviews\" (\"item_id\")");
    await queryRunner.query("CREATE INDEX \"IDX_reviews_user\" ON \"reviews\" (\"user_id\")");
    await queryRunner.query(
      "CREATE TABLE \"trained_models\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"variant\" text NOT NULL, \"config\" text NOT NULL, \"backend\" text NOT NULL, \"device\" text, \"status\" text NOT NULL, \"error\" text, \"best_epoch\" integer NOT NULL DEFAULT '0', \"seconds_per_epoch\" double precision, \"test_metrics\" text, \"history\" text NOT NULL, \"checkpoint_path\" text, \"dataset_fingerprint\" text, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_4eaa6f676949b170463c9f1f112\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE INDEX \"IDX_trained_models_dataset\" ON \"trained_models\" (\"dataset_id\")");
    await queryRunner.query(
      "CREATE TABLE \"training_jobs\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"variant\" text NOT NULL, \"config\" text NOT NULL, \"status\" text NOT NULL, \"epoch\" integer NOT NULL DEFAULT '0', \"total_epochs\" integer NOT NULL, \"last_epoch\" text, \"best_val_ndcg100\" double precision, \"eta_seconds\" double precision, \"model_id\" integer, \"error\" text, \"owner\" text, \"lease_expires_at\" bigint, \"cancel_requested\" boolean NOT NULL DEFAULT false, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"started_at\" TIMESTAMP WITH TIME ZONE, \"finished_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_8596b9a44ae04a393792936a05b\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE INDEX \"IDX_training_jobs_status\" ON \"training_jobs\" (\"status\")");
    await queryRunner.query(
      "CREATE TABLE \"user_word_counts\" (\"user_id\" integer NOT NULL, \"dataset_id\" integer NOT NULL, \"distinct_words\" integer NOT NULL, \"indices\" bytea NOT NULL, \"counts\" bytea NOT NULL, CONSTRAINT \"PK_f2340fe55ea7360a5fe5f75a7f3\" PRIMARY KEY (\"user_id\"))",
    );
    await queryRunner.query("CREATE INDEX \"IDX_user_word_counts_dataset\" ON \"user_word_counts\" (\"dataset_id\")");
    await queryRunner.query(
      "CREATE TABLE \"words\" (\"id\" SERIAL NOT NULL, \"dataset_id\" integer NOT NULL, \"word_index\" integer NOT NULL, \"word\" text NOT NULL, \"count\" integer NOT NULL, \"document_frequency\" integer NOT NULL, CONSTRAINT \"PK_feaf97accb69a7f355fa6f58a3d\" PRIMARY KEY (\"id\"))",
    );
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_words_dataset_word\" ON \"words\" (\"dataset_id\", \"word\")");
    await queryRunner.query("CREATE UNIQUE INDEX \"IDX_words_dataset_index\" ON \"words\" (\"dataset_id\", \"word_index\")");
    await queryRunner.query(
      "ALTER TABLE \"items\" ADD CONSTRAINT \"FK_144a09feb0793cf088cfd563c28\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"users\" ADD CONSTRAINT \"FK_ba3bfe780d4a40968b01a08ff50\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"clicks\" ADD CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"clicks\" ADD CONSTRAINT \"FK_84958dbd195db0508ca0d994dec\" FOREIGN KEY (\"user_id\") REFERENCES \"users\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"clicks\" ADD CONSTRAINT \"FK_0f7354eea353f5d80fe1e632b74\" FOREIGN KEY (\"item_id\") REFERENCES \"items\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"experiments\" ADD CONSTRAINT \"FK_experiments_dataset\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"reviews\" ADD CONSTRAINT \"FK_30b663091377e37f4de73405fa4\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"reviews\" ADD CONSTRAINT \"FK_728447781a30bc3fcfe5c2f1cdf\" FOREIGN KEY (\"user_id\") REFERENCES \"users\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"reviews\" ADD CONSTRAINT \"FK_7eb6c6de6822c913ea9f772621e\" FOREIGN KEY (\"item_id\") REFERENCES \"items\"(\"id\") ON DELETE SET NULL ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"trained_models\" ADD CONSTRAINT \"FK_6aabc7ee4e439a6ceaa275788bc\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"training_jobs\" ADD CONSTRAINT \"FK_3a88799101749ac9eb448309a6a\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"user_word_counts\" ADD CONSTRAINT \"FK_f2340fe55ea7360a5fe5f75a7f3\" FOREIGN KEY (\"user_id\") REFERENCES \"users\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
    await queryRunner.query(
      "ALTER TABLE \"words\" ADD CONSTRAINT \"FK_e3fd715aa189101b945e32398df\" FOREIGN KEY (\"dataset_id\") REFERENCES \"datasets\"(\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"words\" DROP CONSTRAINT \"FK_e3fd715aa189101b945e32398df\"");
    await queryRunner.query("ALTER TABLE \"user_word_counts\" DROP CONSTRAINT \"FK_f2340fe55ea7360a5fe5f75a7f3\"");
    await queryRunner.query("ALTER TABLE \"training_jobs\" DROP CONSTRAINT \"FK_3a88799101749ac9eb448309a6a\"");
    await queryRunner.query("ALTER TABLE \"trained_models\" DROP CONSTRAINT \"FK_6aabc7ee4e439a6ceaa275788bc\"");
    await queryRunner.query("ALTER TABLE \"reviews\" DROP CONSTRAINT \"FK_7eb6c6de6822c913ea9f772621e\"");
    await queryRunner.query("ALTER TABLE \"reviews\" DROP CONSTRAINT \"FK_728447781a30bc3fcfe5c2f1cdf\"");
    await queryRunner.query("ALTER TABLE \"reviews\" DROP CONSTRAINT \"FK_30b663091377e37f4de73405fa4\"");
    await queryRunner.query("ALTER TABLE \"experiments\" DROP CONSTRAINT \"FK_experiments_dataset\"");
    await queryRunner.query("ALTER TABLE \"clicks\" DROP CONSTRAINT \"FK_0f7354eea353f5d80fe1e632b74\"");
    await queryRunner.query("ALTER TABLE \"clicks\" DROP CONSTRAINT \"FK_84958dbd195db0508ca0d994dec\"");
    await queryRunner.query("ALTER TABLE \"clicks\" DROP CONSTRAINT \"FK_5c090f5b580c7a4c9b8e0883039\"");
    await queryRunner.query("ALTER TABLE \"users\" DROP CONSTRAINT \"FK_ba3bfe780d4a40968b01a08ff50\"");
    await queryRunner.query("ALTER TABLE \"items\" DROP CONSTRAINT \"FK_144a09feb0793cf088cfd563c28\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_words_dataset_index\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_words_dataset_word\"");
    await queryRunner.query("DROP TABLE \"words\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_user_word_counts_dataset\"");
    await queryRunner.query("DROP TABLE \"user_word_counts\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_training_jobs_status\"");
    await queryRunner.query("DROP TABLE \"training_jobs\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_trained_models_dataset\"");
    await queryRunner.query("DROP TABLE \"trained_models\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_reviews_user\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_reviews_item\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_reviews_dataset\"");
    await queryRunner.query("DROP TABLE \"reviews\"");
    await queryRunner.query("DROP TABLE \"pending_file_removals\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_experiments_key_dir\"");
    await queryRunner.query("DROP TABLE \"experiments\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_clicks_user_item\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_clicks_item\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_clicks_dataset_split\"");
    await queryRunner.query("DROP TABLE \"clicks\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_users_dataset_external\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_users_dataset_row\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_users_dataset_train_clicks\"");
    await queryRunner.query("DROP TABLE \"users\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_items_dataset_external\"");
    await queryRunner.query("DROP INDEX \"public\".\"IDX_items_dataset_column\"");
    await queryRunner.query("DROP TABLE \"items\"");
    await queryRunner.query("DROP TABLE \"datasets\"");
  }
}
