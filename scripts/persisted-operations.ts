/**
 * The build-time registration of the dashboard's operations (issue 26, item 8): every `/* GraphQL *\/`
 * template of the dashboard's client modules is extracted (graphql-tag-pluck), checked (one named operation per
 * document, no interpolation, valid against the committed schema) and written to the manifest that
 * `vcm serve --persisted-only` accepts. `npm run persisted-operations` rewrites it; a test fails when
 * the committed manifest differs from what the dashboard sends.
 */
import fs from "node:fs";
import path from "node:path";
import { gqlPluckFromCodeStringSync } from "@graphql-tools/graphql-tag-pluck";
import { buildSchema, Kind, parse, validate, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import { DASHBOARD_DIR, DASHBOARD_MODULES } from "../src/graphql/dashboard.ts";
import { MANIFEST_FORMAT, operationId, type PersistedManifest, type PersistedOperation } from "../src/graphql/persisted-operations.ts";
import { SCHEMA_FILE } from "../src/graphql/schema.ts";

/** The files whose GraphQL documents are registered: every module of the dashboard's client. */
export const PERSISTED_OPERATION_SOURCES: ReadonlyArray<string> = DASHBOARD_MODULES.map((name) => path.join(DASHBOARD_DIR, name));

/** The committed schema (schema/schema.graphql, kept equal to the resolvers by its own test). */
export function committedSchema(): GraphQLSchema {
  return buildSchema(fs.readFileSync(SCHEMA_FILE, "utf8"));
}

/** Every operation of `files`, checked, sorted by name; throws a sentence that names the file and the document. */
export function extractOperations(options: { files: ReadonlyArray<string>; schema: GraphQLSchema }): PersistedManifest {
  const operations: PersistedOperation[] = [];
  for (const file of options.files) {
    const code = fs.readFileSync(file, "utf8");
    for (const source of gqlPluckFromCodeStringSync(file, code, { skipIndent: true })) {
      const body = source.body;
      const where = `${path.basename(file)}, the document starting "${body.slice(0, 40)}"`;
      // The plucked text must be what the browser sends: pluck drops ${…} and keeps escapes as written.
      if (!code.includes(`\`${body}\``) || body.includes("\\")) {
        throw new Error(`${where}: a registered document is one template with no \${…} and no backslash escapes, so that its text is what the page sends`);
      }
      const document = parse(body);
      const defined = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      if (defined.length !== 1 || defined[0].name === undefined) throw new Error(`${where}: a registered document holds exactly one operation, with a name`);
      const errors = validate(options.schema, document);
      if (errors.length > 0) throw new Error(`${where}: does not match schema/schema.graphql: ${errors.map((e) => e.message).join("; ")}`);
      const name = defined[0].name.value;
      if (operations.some((o) => o.name === name)) throw new Error(`${where}: another registered operation is named ${name}`);
      operations.push({ id: operationId(body), name, type: defined[0].operation, body });
    }
  }
  operations.sort((a, b) => a.name.localeCompare(b.name));
  return { format: MANIFEST_FORMAT, version: 1, operations };
}

/** The manifest file's text. */
export function renderManifest(manifest: PersistedManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** The manifest of the dashboard as it is now. */
export function dashboardManifest(): PersistedManifest {
  return extractOperations({ files: PERSISTED_OPERATION_SOURCES, schema: committedSchema() });
}
