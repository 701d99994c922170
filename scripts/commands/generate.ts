import type { Command } from "commander";
import { resolveSyntheticOptions, syntheticSource } from "../../src/data/generate.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { numberOption } from "../options.ts";
import { createIngestProgress } from "../progress.ts";
import { withDatabase } from "../with-database.ts";
import { formatIngestSummary } from "./ingest.ts";
import { DATASET_NAME_RULE } from "../../src/services/dataset-names.ts";

interface GenerateFlags {
  dataset: string;
  users?: string;
  items?: string;
  vocab?: string;
  seed?: string;
  topics?: string;
  replace?: boolean;
  db?: string;
  json?: boolean;
}

/** `vcm generate`: a synthetic dataset with planted topics, stored like an ingested one. */
export const generateCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    program
      .command("generate")
      .description("generate a synthetic dataset with planted topics (for tests, demos and benchmarks)")
      .requiredOption("--dataset <name>", `name of the dataset to create (${DATASET_NAME_RULE})`)
      .option("--users <n>", "number of users", "600")
      .option("--items <n>", "number of items", "800")
      .option("--vocab <n>", "number of distinct words", "2000")
      .option("--seed <s>", "random seed (same seed, same dataset)", "1")
      .option("--topics <n>", "number of latent topics (default: items / 50, from 5 to 60)")
      .option("--replace", "replace a dataset of the same name (otherwise that is an error)")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout")
      .action(async (flags: GenerateFlags) => {
        const progress = createIngestProgress(io);
        await io.run({
          json: flags.json === true,
          body: async () => {
            const options = resolveSyntheticOptions({
              users: numberOption(flags.users, { flag: "--users" }),
              items: numberOption(flags.items, { flag: "--items" }),
              vocab: numberOption(flags.vocab, { flag: "--vocab" }),
              seed: numberOption(flags.seed, { flag: "--seed" }),
              topics: numberOption(flags.topics, { flag: "--topics" }),
            });
            return withDatabase(flags, async (dataSource) => {
              try {
                return await ingestDataset(dataSource, {
                  name: flags.dataset,
                  source: syntheticSource(options),
                  replace: flags.replace === true,
                  preprocess: { vocabSize: options.vocab, seed: options.seed },
                  onProgress: progress.onProgress,
                });
              } finally {
                progress.stop();
              }
            });
          },
          text: formatIngestSummary,
        });
      });
  },
};
