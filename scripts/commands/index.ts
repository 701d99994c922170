import { aliasCommand } from "./alias.ts";
import type { CommandModule } from "./command-module.ts";
import { datasetsCommand } from "./datasets.ts";
import { experimentCommand } from "./experiment.ts";
import { exportCommand } from "./export.ts";
import { generateCommand } from "./generate.ts";
import { ingestCommand } from "./ingest.ts";
import { keysCommand } from "./keys.ts";
import { metadataCommand } from "./metadata.ts";
import { modelCommands } from "./model-commands.ts";
import { serveCommand } from "./serve.ts";

/** Every subcommand of `vcm`, in the order `vcm --help` lists them. */
export const commandModules: ReadonlyArray<CommandModule> = [ingestCommand, metadataCommand, generateCommand, datasetsCommand, modelCommands, experimentCommand, exportCommand, keysCommand, aliasCommand, serveCommand];
