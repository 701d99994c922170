import type { Command } from "commander";
import { MAX_REVIEW_LENGTH } from "../../src/data/corpus.ts";
import type { RecordSource } from "../../src/data/source.ts";
import { amazonSource } from "../../src/data/parsers/amazon.ts";
import { tsvSource } from "../../src/data/parsers/tsv.ts";
import { yelpSource } from "../../src/data/parsers/yelp.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { appendFromSource, type AppendSummary } from "../../src/services/append.ts";
import { ingestDataset, type IngestSummary } from "../../src/services/ingest.ts";
import { parseMetadataFormat, stageMetadata } from "../../src/services/metadata.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { numberOption } from "../options.ts";
import { createIngestProgress } from "../progress.ts";
import { withDatabase } from "../with-database.ts";
import { formatMetadataSummary } from "./metadata.ts";
import { DATASET_NAME_RULE } from "../../src/services/dataset-names.ts";

interface IngestFlags {
  dataset: string;
  format: string;
  reviews?: string;
  interactions?: string;
  texts?: string;
  minRating?: string;
  minUserClicks?: string;
  minItemUsers?: string;
  vocabSize?: string;
  seed?: string;
  stopWords?: string;
  replace?: boolean;
  append?: boolean;
  items?: string;
  itemsFormat?: string;
  users?: string;
  db?: string;
  json?: boolean;
}

/** `vcm ingest`: reads Amazon, Yelp or tsv files into a dataset with the paper's preprocessing. */
export const ingestCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    program
      .command("ingest")
      .description("ingest review data (amazon, yelp or tsv) into a dataset, preprocessed as in the VCM paper")
      .requiredOption("--dataset <name>", `name of the dataset to create (${DATASET_NAME_RULE}), or to add to with --append`)
      .requiredOption("--format <format>", "amazon | yelp | tsv")
      .option("--reviews <file>", "reviews file for amazon / yelp (JSON lines or concatenated objects, plain or .gz)")
      .option("--interactions <file>", "tsv: user<TAB>item[<TAB>rating] lines")
      .option("--texts <file>", "tsv: user<TAB>item<TAB>text lines (an empty item is text of the user alone)")
      .option("--min-rating <r>", "a click is a rating at or above this (rows without a rating are clicks)", "4")
      .option("--min-user-clicks <n>", "keep users with at least n clicked items (to a fixed point)", "5")
      .option("--min-item-users <n>", "keep items with at least n clicking users (to a fixed point)", "5")
      .option("--vocab-size <n>", "number of most frequent words kept", "10000")
      .option("--seed <s>", "seed of the 60/20/20 split", "1")
      .option("--stop-words <langs>", "stop-word languages of the stopword package, comma-separated", "eng")
      .option("--replace", "replace a dataset of the same name (otherwise that is an error)")
      .option("--append", "add the records to the existing dataset --dataset with its own ingest rules, in one transaction (the preprocessing options are the dataset's; see docs/operations.md)")
      .option("--items <file>", "item metadata to attach (titles, categories…; see vcm metadata), read before anything is written")
      .option("--items-format <format>", "format of --items: amazon | yelp | tsv (default: --format when it is amazon or yelp)")
      .option("--users <file>", "user names to attach: a TSV with a header, the user id first and a name column")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout")
      .action(async (flags: IngestFlags) => {
        const progress = createIngestProgress(io);
        await io.run({
          json: flags.json === true,
          body: async () => {
            if (flags.append === true && flags.replace === true) {
              throw new UserError(ErrorCode.BAD_USER_INPUT, "--append adds to a dataset and --replace replaces it; give one of them.");
            }
            const source = sourceFor(flags);
            return withDatabase(flags, async (dataSource) => {
              // Metadata files are read first: a wrong one is refused before the dataset is touched.
              const staged =
                flags.items === undefined && flags.users === undefined
                  ? undefined
                  : await stageMetadata({
                      dataSource,
                      items: flags.items === undefined ? undefined : { file: flags.items, format: parseMetadataFormat(flags.itemsFormat ?? (flags.format === "tsv" ? "" : flags.format)) },
                      users: flags.users === undefined ? undefined : { file: flags.users },
                      onProgress: (message) => io.info(message),
                    });
              try {
                if (flags.append === true) {
                  const appended = await appendFromSource(dataSource, { dataset: flags.dataset, source, onProgress: (event) => (event.phase === "read" ? progress.onProgress(event) : io.info(event.message)) });
                  return { kind: "append" as const, ...appended, metadata: staged === undefined ? null : await staged.apply(appended.datasetId) };
                }
                const summary = await ingestDataset(dataSource, {
                  name: flags.dataset,
                  source,
                  replace: flags.replace === true,
                  stopWordLanguages: (flags.stopWords ?? "eng").split(",").map((s) => s.trim()).filter(Boolean),
                  preprocess: {
                    minRating: numberOption(flags.minRating, { flag: "--min-rating", integer: false }),
                    minUserClicks: numberOption(flags.minUserClicks, { flag: "--min-user-clicks" }),
                    minItemUsers: numberOption(flags.minItemUsers, { flag: "--min-item-users" }),
                    vocabSize: numberOption(flags.vocabSize, { flag: "--vocab-size" }),
                    seed: numberOption(flags.seed, { flag: "--seed" }),
                  },
                  onProgress: progress.onProgress,
                });
                return { kind: "ingest" as const, ...summary, metadata: staged === undefined ? null : await staged.apply(summary.datasetId) };
              } finally {
                progress.stop();
                await staged?.drop();
              }
            });
          },
          text: (summary) => {
            const head = summary.kind === "append" ? formatAppendSummary(summary) : formatIngestSummary(summary);
            return summary.metadata === null ? head : `${head}\n${formatMetadataSummary({ dataset: summary.dataset, ...summary.metadata })}`;
          },
        });
      });
  },
};

function sourceFor(flags: IngestFlags): RecordSource {
  switch (flags.format) {
    case "amazon":
    case "yelp": {
      if (!flags.reviews) throw new UserError(ErrorCode.BAD_USER_INPUT, `--format ${flags.format} needs --reviews FILE.`);
      return flags.format === "amazon" ? amazonSource({ reviews: flags.reviews }) : yelpSource({ reviews: flags.reviews });
    }
    case "tsv": {
      if (!flags.interactions) throw new UserError(ErrorCode.BAD_USER_INPUT, "--format tsv needs --interactions FILE (and optionally --texts FILE).");
      return tsvSource({ interactions: flags.interactions, texts: flags.texts });
    }
    default:
      throw new UserError(ErrorCode.BAD_USER_INPUT, `--format must be amazon, yelp or tsv, got "${flags.format}".`);
  }
}

/** The human-readable summary shared by ingest and generate. */
export function formatIngestSummary(summary: IngestSummary): string {
  const skipped = Object.entries(summary.skipped);
  const lines = [
    `${summary.replaced ? "Replaced" : "Ingested"} dataset "${summary.dataset}" in ${summary.seconds.toFixed(1)} s (${summary.recordsRead} records read)`,
    `  users ${summary.users}, items ${summary.items}, clicks ${summary.clicks} (sparsity ${(summary.sparsity * 100).toFixed(2)} %)`,
    `  splits: train ${summary.splits.train}, validation ${summary.splits.validation}, test ${summary.splits.test}`,
    `  reviews ${summary.reviews}, vocabulary ${summary.vocabulary} words`,
    skipped.length === 0
      ? "  skipped: none"
      : `  skipped: ${skipped.map(([reason, count]) => `${reason} ${count} (lines ${summary.skippedLines[reason]?.join(", ")})`).join("; ")}`,
  ];
  if (summary.truncated > 0) {
    lines.push(`  truncated: ${summary.truncated} review(s) longer than ${MAX_REVIEW_LENGTH} characters, kept up to that length`);
  }
  if (summary.removedModels > 0) {
    lines.push(`  removed ${summary.removedModels} trained model(s) of the replaced dataset, with their checkpoints`);
  }
  return lines.join("\n");
}

/** The human-readable summary of `vcm ingest --append`. */
export function formatAppendSummary(summary: AppendSummary): string {
  const skipped = Object.entries(summary.skipped);
  const lines = [
    summary.message,
    `  ${summary.recordsRead} records read in ${summary.seconds.toFixed(1)} s; clicks already present ${summary.clicksAlreadyPresent}, reviews already present ${summary.reviewsAlreadyPresent}, ratings under the threshold ${summary.notClicks}`,
    `  words added to users' bags ${summary.wordsAdded}; words outside the vocabulary (not added) ${summary.unknownWords}`,
    skipped.length === 0
      ? "  skipped: none"
      : `  skipped: ${skipped.map(([reason, count]) => `${reason} ${count}${summary.skippedLines[reason] === undefined ? "" : ` (lines ${summary.skippedLines[reason].join(", ")})`}`).join("; ")}`,
  ];
  if (summary.truncated > 0) lines.push(`  truncated: ${summary.truncated} text(s) longer than ${MAX_REVIEW_LENGTH} characters, kept up to that length`);
  return lines.join("\n");
}
