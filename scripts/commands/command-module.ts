/** The contract between `vcm` (scripts/cli.ts) and its command modules, apart from both so neither imports the other's module. */
import type { Command } from "commander";

/** What every command module exports: it adds its subcommand(s) to the program. */
export interface CommandModule {
  register(program: Command, io: CliIo): void;
}

/** Output channels of the CLI: human text and progress on stderr, the JSON summary on stdout. */
export interface CliIo {
  /** Runs a command body: prints its result (text or one JSON line) and turns errors into exit codes. */
  run<T>(options: {
    json: boolean;
    body: () => Promise<T>;
    text: (result: T) => string;
  }): Promise<void>;
  /** A progress or status line on stderr (never on stdout, which stays parseable). */
  info(line: string): void;
}
