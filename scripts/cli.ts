import "reflect-metadata";
import { Command, CommanderError } from "commander";
import { faultAsUserError, UserError } from "../src/errors.ts";
import type { CliIo } from "./commands/command-module.ts";
import { commandModules } from "./commands/index.ts";

/** Runs the CLI with the given arguments and resolves to the process exit code. */
export async function main(argv: ReadonlyArray<string>): Promise<number> {
  let exitCode = 0;
  const io: CliIo = {
    async run({ json, body, text }) {
      try {
        const result = await body();
        process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${text(result)}\n`);
      } catch (error) {
        exitCode = reportError(error, json);
      }
    },
    info(line) {
      process.stderr.write(`${line}\n`);
    },
  };
  const program = new Command("vcm")
    .description("Variational Collaborative Model: ingest data, train, evaluate, and serve the GraphQL API")
    .showHelpAfterError()
    .exitOverride();
  for (const module of commandModules) module.register(program, io);
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? 0 : 2;
    }
    return reportError(error, false);
  }
  return exitCode;
}

function reportError(thrown: unknown, json: boolean): number {
  const error = thrown instanceof UserError ? thrown : (faultAsUserError(thrown) ?? thrown);
  if (error instanceof UserError) {
    process.stderr.write(`error: ${error.message}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
    return 1;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`internal error (a bug; please report it with this trace):\n${message}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: "INTERNAL_SERVER_ERROR", message: "internal error" } })}\n`);
  return 70;
}
