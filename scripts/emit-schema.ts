// `npm run schema`: rewrites schema/schema.graphql from the resolvers (commit the result; a test checks it).
import { buildVcmSchema, SCHEMA_FILE } from "../src/graphql/schema.ts";

await buildVcmSchema({ emitSchemaFile: SCHEMA_FILE });
process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
