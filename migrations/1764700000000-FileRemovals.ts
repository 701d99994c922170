import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Checkpoint folders whose rows are gone, written in the same transaction that removes the rows and
 * deleted after the commit: a kill in between leaves a line here, which the next start finishes.
 */
export class FileRemovals1764700000000 implements MigrationInterface {
  name = "FileRemovals1764700000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "pending_file_removals" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "path" text NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "pending_file_removals"`);
  }
}
