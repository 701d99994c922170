import type { MigrationInterface, QueryRunner } from "typeorm";

/** API keys with roles (src/services/api-keys.ts): a public id, a salted hash, a role and rate overrides per key. */
export class ApiKeys1765750000010 implements MigrationInterface {
  name = "ApiKeys1765750000010";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "api_keys" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "name" text NOT NULL, "key_id" text NOT NULL, "role" text NOT NULL, "salt" text NOT NULL, "hash" text NOT NULL, "rate_requests" integer, "rate_cost" integer, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "last_used_at" datetime, CONSTRAINT "UQ_5457f77c4528c36c3d810bf6b70" UNIQUE ("name"), CONSTRAINT "UQ_587c54d5d82b3dfbfb59a81cb42" UNIQUE ("key_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api_keys"`);
  }
}
