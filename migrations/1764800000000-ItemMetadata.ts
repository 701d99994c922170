import type { MigrationInterface, QueryRunner } from "typeorm";

/** What real datasets ship beside their interactions: item titles, categories and other attributes; user names. */
export class ItemMetadata1764800000000 implements MigrationInterface {
  name = "ItemMetadata1764800000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "items" ADD COLUMN "title" text`);
    await queryRunner.query(`ALTER TABLE "items" ADD COLUMN "categories" text`);
    await queryRunner.query(`ALTER TABLE "items" ADD COLUMN "attributes" text`);
    await queryRunner.query(`ALTER TABLE "users" ADD COLUMN "name" text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "name"`);
    await queryRunner.query(`ALTER TABLE "items" DROP COLUMN "attributes"`);
    await queryRunner.query(`ALTER TABLE "items" DROP COLUMN "categories"`);
    await queryRunner.query(`ALTER TABLE "items" DROP COLUMN "title"`);
  }
}
