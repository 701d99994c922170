#!/usr/bin/env node
// The `vcm` command: registers tsx so the TypeScript CLI runs straight after `npm ci`, with no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./cli.ts");
const code = await main(process.argv.slice(2));
process.exitCode = code;
