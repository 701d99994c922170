// `npm run persisted-operations`: rewrites the dashboard's persisted-operation manifest from its client (commit the result; a test checks it).
import fs from "node:fs";
import { PERSISTED_OPERATIONS_FILE } from "../src/graphql/persisted-operations.ts";
import { dashboardManifest, renderManifest } from "./persisted-operations.ts";

const manifest = dashboardManifest();
fs.writeFileSync(PERSISTED_OPERATIONS_FILE, renderManifest(manifest));
process.stdout.write(`wrote ${PERSISTED_OPERATIONS_FILE}: ${manifest.operations.map((o) => o.name).join(", ")}\n`);
