/** The committed schema/schema.graphql must equal what the resolvers emit (run `npm run schema` after a change). */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildVcmSchema, SCHEMA_FILE } from "../../src/graphql/schema.ts";

describe("schema/schema.graphql", () => {
  it("equals the schema type-graphql emits from the resolvers", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-schema-"));
    try {
      const emitted = path.join(dir, "schema.graphql");
      await buildVcmSchema({ emitSchemaFile: emitted });
      const committed = fs.readFileSync(SCHEMA_FILE, "utf8");
      expect(committed, "schema/schema.graphql is stale: run `npm run schema` and commit it").toBe(fs.readFileSync(emitted, "utf8"));
      expect(committed).toContain("type Query {");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
