import type { MigrationInterface, QueryRunner } from "typeorm";

/** Datasets, users, items, reviews, clicks with their split, the vocabulary and each user's word counts. */
export class InitialSchema1764200000000 implements MigrationInterface {
  name = "InitialSchema1764200000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "datasets" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "name" text NOT NULL, "source" text NOT NULL, "options" text NOT NULL, "user_count" integer NOT NULL, "item_count" integer NOT NULL, "click_count" integer NOT NULL, "train_click_count" integer NOT NULL, "validation_click_count" integer NOT NULL, "test_click_count" integer NOT NULL, "review_count" integer NOT NULL, "vocabulary_size" integer NOT NULL, "sparsity" real NOT NULL, "skipped" text NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "UQ_4a40dadf87d8be1c12c51a13f10" UNIQUE ("name"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "items" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "external_id" text NOT NULL, "column_index" integer NOT NULL, "click_count" integer NOT NULL, "train_click_count" integer NOT NULL, CONSTRAINT "FK_144a09feb0793cf088cfd563c28" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_items_dataset_column" ON "items" ("dataset_id", "column_index") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_items_dataset_external" ON "items" ("dataset_id", "external_id") `);
    await queryRunner.query(
      `CREATE TABLE "users" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "external_id" text NOT NULL, "row_index" integer NOT NULL, "train_click_count" integer NOT NULL, "validation_click_count" integer NOT NULL, "test_click_count" integer NOT NULL, "review_count" integer NOT NULL, "word_count" integer NOT NULL, CONSTRAINT "FK_ba3bfe780d4a40968b01a08ff50" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_users_dataset_train_clicks" ON "users" ("dataset_id", "train_click_count") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_users_dataset_row" ON "users" ("dataset_id", "row_index") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_users_dataset_external" ON "users" ("dataset_id", "external_id") `);
    await queryRunner.query(
      `CREATE TABLE "clicks" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "user_id" integer NOT NULL, "item_id" integer NOT NULL, "split" text NOT NULL, CONSTRAINT "FK_5c090f5b580c7a4c9b8e0883039" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_84958dbd195db0508ca0d994dec" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_0f7354eea353f5d80fe1e632b74" FOREIGN KEY ("item_id") REFERENCES "items" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_clicks_dataset_split" ON "clicks" ("dataset_id", "split") `);
    await queryRunner.query(`CREATE INDEX "IDX_clicks_item" ON "clicks" ("item_id") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_clicks_user_item" ON "clicks" ("user_id", "item_id") `);
    await queryRunner.query(
      `CREATE TABLE "reviews" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "user_id" integer NOT NULL, "item_id" integer, "rating" real, "text" text NOT NULL, "summary" text, "time" integer, CONSTRAINT "FK_30b663091377e37f4de73405fa4" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_728447781a30bc3fcfe5c2f1cdf" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_7eb6c6de6822c913ea9f772621e" FOREIGN KEY ("item_id") REFERENCES "items" ("id") ON DELETE SET NULL ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_reviews_dataset" ON "reviews" ("dataset_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_reviews_item" ON "reviews" ("item_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_reviews_user" ON "reviews" ("user_id") `);
    await queryRunner.query(
      `CREATE TABLE "user_word_counts" ("user_id" integer PRIMARY KEY NOT NULL, "dataset_id" integer NOT NULL, "distinct_words" integer NOT NULL, "indices" blob NOT NULL, "counts" blob NOT NULL, CONSTRAINT "FK_f2340fe55ea7360a5fe5f75a7f3" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_user_word_counts_dataset" ON "user_word_counts" ("dataset_id") `);
    await queryRunner.query(
      `CREATE TABLE "words" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "dataset_id" integer NOT NULL, "word_index" integer NOT NULL, "word" text NOT NULL, "count" integer NOT NULL, "document_frequency" integer NOT NULL, CONSTRAINT "FK_e3fd715aa189101b945e32398df" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_words_dataset_word" ON "words" ("dataset_id", "word") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_words_dataset_index" ON "words" ("dataset_id", "word_index") `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ["words", "user_word_counts", "reviews", "clicks", "users", "items", "datasets"]) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
