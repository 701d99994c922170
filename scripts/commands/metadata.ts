import type { Command } from "commander";
import { attachMetadata, parseMetadataFormat, type MetadataFileSummary, type MetadataSummary } from "../../src/services/metadata.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { withDatabase } from "../with-database.ts";

interface MetadataFlags {
  dataset: string;
  items?: string;
  format?: string;
  users?: string;
  db?: string;
  json?: boolean;
}

/** `vcm metadata`: attaches item titles, categories and attributes (and user names) to an ingested dataset. */
export const metadataCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    program
      .command("metadata")
      .description("attach item titles, categories and attributes (and user names) to an ingested dataset; an upsert, in one transaction")
      .requiredOption("--dataset <name>", "the ingested dataset")
      .option("--items <file>", "item metadata: Amazon 2014/2018/2023 product metadata, Yelp business.json, or a TSV with a header (plain or .gz)")
      .option("--format <format>", "format of --items: amazon | yelp | tsv")
      .option("--users <file>", "user names: a TSV with a header, the user id first and a name column")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout")
      .action(async (flags: MetadataFlags) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, (dataSource) =>
              attachMetadata({
                dataSource,
                dataset: flags.dataset,
                items: flags.items === undefined ? undefined : { file: flags.items, format: parseMetadataFormat(flags.format ?? "") },
                users: flags.users === undefined ? undefined : { file: flags.users },
                onProgress: (message) => io.info(message),
              }),
            ),
          text: formatMetadataSummary,
        });
      });
  },
};

/** The human-readable summary of `vcm metadata` (and of ingest --items). */
export function formatMetadataSummary(summary: Pick<MetadataSummary, "dataset" | "items" | "users">): string {
  const part = (what: string, s: MetadataFileSummary | null): string[] => {
    if (s === null) return [];
    const skipped = Object.entries(s.skipped);
    return [
      `  ${what}: ${s.records} records, ${s.updated} of the dataset's ${what} updated, ${s.unknown} not in the dataset (skipped)`,
      skipped.length === 0 ? "    malformed: none" : `    malformed: ${skipped.map(([reason, n]) => `${reason} ${n} (lines ${s.skippedLines[reason]?.join(", ")})`).join("; ")}`,
    ];
  };
  return [`Metadata of dataset "${summary.dataset}":`, ...part("items", summary.items), ...part("users", summary.users)].join("\n");
}
