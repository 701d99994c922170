#!/usr/bin/env node
// The `vcm` command: registers tsx so the TypeScript CLI runs straight after `npm ci`, with no build step.
import { register } from "tsx/esm/api";

// graphql-js checks every type against copies of itself from other realms unless told it runs in
// production (≈ 8 ms of a 100-user query); tests and development keep the checks.
process.env.NODE_ENV ??= "production";
register();
const { main } = await import("./cli.ts");
const code = await main(process.argv.slice(2));
process.exitCode = code;
