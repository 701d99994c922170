import type { Command } from "commander";
import { listDatasets, type DatasetStats } from "../../src/services/datasets.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { withDatabase } from "../with-database.ts";

/** `vcm datasets`: what is ingested, with the paper's Table 1 statistics. */
export const datasetsCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    program
      .command("datasets")
      .description("list ingested datasets with users, items, interactions, sparsity, vocabulary and split sizes")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () => withDatabase(flags, async (dataSource) => ({ datasets: await listDatasets(dataSource) })),
          text: ({ datasets }) => formatDatasets(datasets),
        });
      });
  },
};

function formatDatasets(datasets: ReadonlyArray<DatasetStats>): string {
  if (datasets.length === 0) return "No dataset is ingested yet; run `vcm ingest` or `vcm generate`.";
  const header = ["name", "source", "version", "users", "items", "interactions", "sparsity", "vocabulary", "train/val/test"];
  const rows = datasets.map((d) => [
    d.name,
    d.source,
    String(d.version),
    String(d.users),
    String(d.items),
    String(d.interactions),
    `${(d.sparsity * 100).toFixed(2)} %`,
    String(d.vocabulary),
    `${d.splits.train}/${d.splits.validation}/${d.splits.test}`,
  ]);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  return [header, ...rows].map((r) => r.map((cell, k) => cell.padEnd(widths[k])).join("  ").trimEnd()).join("\n");
}
