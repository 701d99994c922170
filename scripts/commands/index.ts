import type { CommandModule } from "../cli.ts";

/** Every subcommand of `vcm`, in the order `vcm --help` lists them. */
export const commandModules: ReadonlyArray<CommandModule> = [];
