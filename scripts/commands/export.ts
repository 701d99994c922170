import fs from "node:fs";
import type { Command } from "commander";
import { loadAppConfig } from "../../src/config.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { exportRecommendationsSharded } from "../../src/services/sharded-export.ts";
import { exportDataset, exportRecommendations, RECOMMENDATION_BATCH_USERS, exportUserMetrics, formatCohorts, writeExportFile, type CohortExportFormat, type DatasetExportFormat, type ExportedFile, type RecommendationExportFormat } from "../../src/services/exports.ts";
import type { ExplanationRule } from "../../src/engine/explanation-rules.ts";
import { createPredictionServices } from "../../src/services/prediction-services.ts";
import { COHORT_BATCH_USERS, DEFAULT_COHORT_GROUPS, type CohortGrouping } from "../../src/services/cohorts.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { numberOption, shardsHelp, shardsOption } from "../options.ts";
import { withDatabase } from "../with-database.ts";

function choice<T extends string>(value: string, allowed: ReadonlyArray<T>, flag: string): T {
  if (!allowed.includes(value as T)) throw new UserError(ErrorCode.BAD_USER_INPUT, `${flag} must be one of ${allowed.join(", ")}, got "${value}".`);
  return value as T;
}

function modelId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0) throw new UserError(ErrorCode.BAD_USER_INPUT, `--model must be a model id (a positive integer), got "${text}".`);
  return id;
}

function formatFiles(files: ReadonlyArray<ExportedFile>): string {
  return files.map((f) => `  ${f.file}  (${f.rows} rows)`).join("\n");
}

/** `vcm export dataset|recommendations|cohorts|metrics`: files for RecBole, spreadsheets and notebooks. */
export const exportCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    const exporter = program.command("export").description("export a dataset (RecBole atomic files or TSV), recommendations (CSV, JSON lines), cohorts (CSV, Markdown) or per-user metrics (CSV)");
    exporter
      .command("dataset")
      .description("a dataset with our exact split: RecBole atomic files (NAME.train/valid/test.inter, NAME.item, NAME.user) or plain TSVs")
      .requiredOption("--dataset <name>", "the ingested dataset")
      .option("--format <format>", "recbole | tsv", "recbole")
      .requiredOption("--out <dir>", "folder for the files (created when missing)")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout")
      .action(async (flags: { dataset: string; format: string; out: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, (dataSource) =>
              exportDataset({ dataSource, dataset: flags.dataset, format: choice<DatasetExportFormat>(flags.format, ["recbole", "tsv"], "--format"), outDir: flags.out, onProgress: (m) => io.info(m) }),
            ),
          text: (r) => `Exported dataset "${r.dataset}" as ${r.format}:\n${formatFiles(r.files)}`,
        });
      });
    exporter
      .command("recommendations")
      .description("each user's top-k items (VCM, from clicks) with titles and the top explanation words")
      .requiredOption("--model <id>", "a ready model")
      .option("--k <n>", "items per user", "20")
      .option("--users <which>", "all, or a file of external user ids, one per line", "all")
      .option("--format <format>", "csv | jsonl", "csv")
      .option("--rule <rule>", "how explanation words are chosen: effect (the API's default; exact, ≈ 50 ms a user at the Yelp shape) | evidence | lift (fast)", "effect")
      .option("--shards <n>", shardsHelp(`${RECOMMENDATION_BATCH_USERS}`))
      .requiredOption("--out <file>", "the file to write")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout")
      .action(async (flags: { model: string; k: string; users: string; format: string; rule: string; shards?: string; out: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, async (dataSource) => {
              const config = loadAppConfig({ dbPath: flags.db });
              const services = createPredictionServices({ dataSource, config });
              const users = flags.users === "all" ? undefined : readIdList(flags.users);
              const what = {
                dataSource,
                services,
                modelId: modelId(flags.model),
                k: numberOption(flags.k, { flag: "--k" }) ?? 20,
                users,
                format: choice<RecommendationExportFormat>(flags.format, ["csv", "jsonl"], "--format"),
                rule: choice<ExplanationRule>(flags.rule, ["effect", "evidence", "lift"], "--rule"),
                out: flags.out,
              };
              let shown = -1;
              try {
                if (flags.shards !== undefined) {
                  return await exportRecommendationsSharded({
                    ...what,
                    shards: numberOption(flags.shards, { flag: "--shards" }) ?? 1,
                    onProgress: (p) => io.info(`recommendations: ${p.shardsDone} of ${p.shards} shards done`),
                  });
                }
                return await exportRecommendations({
                  ...what,
                  onProgress: (done, total) => {
                    const percent = Math.floor((100 * done) / total / 10) * 10;
                    if (percent > shown) {
                      shown = percent;
                      io.info(`recommendations: ${done} of ${total} users`);
                    }
                  },
                });
              } finally {
                await services.close();
              }
            }),
          text: (r) => `Exported the recommendations of ${r.users} users:\n${formatFiles([r])}`,
        });
      });
    exporter
      .command("cohorts")
      .description("the paper's Table 3 for a model (and a compared one): activity cohorts with capacity, NDCG@10, Recall@20")
      .requiredOption("--model <id>", "a ready model")
      .option("--compare <id>", "a second model of the same dataset")
      .option("--grouping <grouping>", "boundaries (the paper's [5, 20, 40, 60, 80]) | equal-users | equal-interactions (quantile groups, ties kept together)", "boundaries")
      .option("--groups <n>", "quantile groups for equal-users / equal-interactions", String(DEFAULT_COHORT_GROUPS))
      .option("--format <format>", "csv | md", "md")
      .option("--shards <n>", shardsHelp(`${COHORT_BATCH_USERS} test users`))
      .option("--out <file>", "the file to write (default: stdout)")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .action(async (flags: { model: string; compare?: string; grouping: string; groups: string; format: string; shards?: string; out?: string; db?: string }) => {
        await io.run({
          json: false,
          body: () =>
            withDatabase(flags, async (dataSource) => {
              const services = createPredictionServices({ dataSource, config: loadAppConfig({ dbPath: flags.db, cohortShards: shardsOption(flags.shards) }) });
              try {
                const grouping = choice(flags.grouping, ["boundaries", "equal-users", "equal-interactions"] as const, "--grouping").toUpperCase().replace("-", "_") as CohortGrouping;
                const analysis = await services.cohorts.analyse({
                  modelId: modelId(flags.model),
                  compareTo: flags.compare === undefined ? null : modelId(flags.compare),
                  grouping,
                  groups: numberOption(flags.groups, { flag: "--groups" }),
                });
                const text = formatCohorts(analysis, choice<CohortExportFormat>(flags.format, ["csv", "md"], "--format"));
                if (flags.out === undefined) return text.trimEnd();
                await writeExportFile(flags.out, text);
                return `Exported the cohorts of model ${analysis.modelId} to ${flags.out}`;
              } finally {
                await services.close();
              }
            }),
          text: (r) => r,
        });
      });
    exporter
      .command("metrics")
      .description("each test user's figures of a model as CSV: user, activity (training clicks), ndcg@10, recall@20, arp@10, aplt@10, novelty@10, capacity")
      .requiredOption("--model <id>", "a ready model")
      .requiredOption("--out <file>", "the CSV file to write")
      .option("--shards <n>", shardsHelp(`${COHORT_BATCH_USERS} test users`))
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout")
      .action(async (flags: { model: string; out: string; shards?: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, async (dataSource) => {
              const services = createPredictionServices({ dataSource, config: loadAppConfig({ dbPath: flags.db, cohortShards: shardsOption(flags.shards) }) });
              try {
                return await exportUserMetrics({ services, modelId: modelId(flags.model), out: flags.out });
              } finally {
                await services.close();
              }
            }),
          text: (r) => `Exported the per-user metrics of ${r.rows} test users:\n${formatFiles([r])}`,
        });
      });
  },
};

/** External ids, one per line (blank lines ignored). */
function readIdList(file: string): string[] {
  if (!fs.existsSync(file)) throw new UserError(ErrorCode.BAD_USER_INPUT, `--users: there is no file ${JSON.stringify(file)}; pass all, or a file of user ids.`);
  return fs.readFileSync(file, "utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
}
