import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * API keys with roles, as on SQLite (migrations/1765750000010-ApiKeys.ts), and the table that
 * rate-limiter-flexible's PostgreSQL store counts every server's requests in (src/graphql/rate-limits.ts),
 * in the library's own layout, created here so that the servers never run DDL.
 */
export class PostgresApiKeys1765750000010 implements MigrationInterface {
  name = "PostgresApiKeys1765750000010";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "api_keys" ("id" SERIAL NOT NULL, "name" text NOT NULL, "key_id" text NOT NULL, "role" text NOT NULL, "salt" text NOT NULL, "hash" text NOT NULL, "rate_requests" integer, "rate_cost" integer, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_used_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "UQ_5457f77c4528c36c3d810bf6b70" UNIQUE ("name"), CONSTRAINT "UQ_587c54d5d82b3dfbfb59a81cb42" UNIQUE ("key_id"), CONSTRAINT "PK_5c8a79801b44bd27b79228e1dad" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE TABLE "rate_limits" ("key" varchar(255) PRIMARY KEY, "points" integer NOT NULL DEFAULT 0, "expire" bigint)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "rate_limits"`);
    await queryRunner.query(`DROP TABLE "api_keys"`);
  }
}
