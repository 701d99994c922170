// `npm run config-tables`: rewrites the documentation's parameter tables from src/engine/config-fields.ts (commit the result; a test checks it).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeConfigTables } from "./config-tables.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const changed = writeConfigTables(root);
process.stdout.write(changed.length === 0 ? "config tables are up to date\n" : `wrote ${changed.join(", ")}\n`);
