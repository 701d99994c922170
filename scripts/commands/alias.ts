import type { Command } from "commander";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { aliasReport, listAliases, ModelAliasDirectory, removeModelAlias, setModelAlias, type AliasReport, type ModelAliasSummary } from "../../src/services/model-aliases.ts";
import { evaluateSavedModel } from "../../src/services/model-evaluation.ts";
import { withDatabase } from "../with-database.ts";
import type { CliIo, CommandModule } from "./command-module.ts";

const DB_HELP = "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)";

/** Parses `--candidate ID:SHARE` (e.g. 7:0.1). */
function parseCandidate(value: string | undefined): { modelId: number; share: number } | null {
  if (value === undefined) return null;
  const match = /^\s*(\d+)\s*:\s*([0-9.eE+-]+)\s*$/.exec(value);
  if (match === null) throw new UserError(ErrorCode.BAD_USER_INPUT, `--candidate is MODEL_ID:SHARE (e.g. 7:0.1 sends a tenth of the users to model 7), got "${value}".`);
  return { modelId: Number(match[1]), share: Number(match[2]) };
}

function parseModelId(value: string): number {
  const id = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(id) || id <= 0) throw new UserError(ErrorCode.BAD_USER_INPUT, `--model is a model id (a positive integer), got "${value}".`);
  return id;
}

function formatAliases(aliases: ReadonlyArray<ModelAliasSummary>): string {
  if (aliases.length === 0) return "No model alias exists; vcm alias set --dataset NAME --alias NAME --model ID makes one.";
  const header = ["dataset", "alias", "model", "candidate", "share", "log", "updated"];
  const rows = aliases.map((a) => [a.dataset, a.alias, String(a.modelId), a.candidateModelId === null ? "-" : String(a.candidateModelId), String(a.candidateShare), a.logServing ? "yes" : "no", a.updated]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

const figure = (value: number | null, digits = 4): string => (value === null ? "-" : value.toFixed(digits));

function formatReport(report: AliasReport): string {
  const { alias } = report;
  const lines = [`Alias ${alias.alias} of ${alias.dataset}: model ${alias.modelId}${alias.candidateModelId === null ? "" : `, candidate ${alias.candidateModelId} for ${alias.candidateShare} of the users`}.`, ""];
  lines.push("arm        model  share   test users  NDCG@10  Recall@20  served  hits  hit rate");
  for (const arm of report.arms) {
    lines.push(
      [arm.arm.padEnd(9), String(arm.modelId).padStart(6), arm.share.toFixed(3).padStart(6), String(arm.testUsers).padStart(11), figure(arm.ndcg10).padStart(8), figure(arm.recall20).padStart(10), String(arm.served).padStart(7), String(arm.hits).padStart(5), figure(arm.hitRate).padStart(9)].join(" "),
    );
  }
  for (const c of report.comparisons) {
    lines.push(`${c.metric}: candidate − model = ${c.difference.toFixed(4)} over ${c.users} users, t = ${c.statistic.toFixed(3)} (df ${c.df}), p = ${c.pValue.toPrecision(3)} (paired t-test).`);
  }
  lines.push(alias.logServing ? `Hit rates count the serving log's last ${report.servingLogDays} days.` : "Serving is not logged for this alias (vcm alias set … --log-serving turns it on), so there is no hit rate.");
  return lines.join("\n");
}

/** `vcm alias set|list|remove|report`: model aliases and A/B splits, stored in the database for every server. */
export const aliasCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    const alias = program.command("alias").description("model aliases and A/B splits: set, list, remove, report");
    alias
      .command("set")
      .description("create or replace a model alias of a dataset (every server serves it within a second)")
      .requiredOption("--dataset <name>", "the dataset")
      .requiredOption("--alias <name>", "the alias: letters, digits, '.', '-' or '_', starting with a letter")
      .requiredOption("--model <id>", "a READY model of the dataset")
      .option("--candidate <id:share>", "an A/B split: model ID serves SHARE (0 to 1) of the users")
      .option("--log-serving", "log the recommendations served through the alias, for the report's hit rate")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { dataset: string; alias: string; model: string; candidate?: string; logServing?: boolean; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, (dataSource) =>
              setModelAlias(dataSource, { dataset: flags.dataset, alias: flags.alias, modelId: parseModelId(flags.model), candidate: parseCandidate(flags.candidate), logServing: flags.logServing === true }),
            ),
          text: (set) => `Alias ${set.alias} of ${set.dataset} serves model ${set.modelId}${set.candidateModelId === null ? "" : `, and model ${set.candidateModelId} to ${set.candidateShare} of the users`}.`,
        });
      });
    alias
      .command("list")
      .description("list the model aliases")
      .option("--dataset <name>", "only this dataset's")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { dataset?: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () => withDatabase(flags, async (dataSource) => ({ aliases: await listAliases(dataSource, flags.dataset) })),
          text: (result) => formatAliases(result.aliases),
        });
      });
    alias
      .command("remove")
      .description("remove a model alias")
      .requiredOption("--dataset <name>", "the dataset")
      .requiredOption("--alias <name>", "the alias")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { dataset: string; alias: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, async (dataSource) => {
              await removeModelAlias(dataSource, { dataset: flags.dataset, alias: flags.alias });
              return { removed: flags.alias, dataset: flags.dataset };
            }),
          text: (result) => `Removed alias ${result.removed} of ${result.dataset}.`,
        });
      });
    alias
      .command("report")
      .description("both arms of an alias on the same test users with a paired t-test, and the online hit rates")
      .requiredOption("--alias <name>", "the alias")
      .option("--dataset <name>", "the dataset (needed when several have an alias of that name)")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { alias: string; dataset?: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () =>
            withDatabase(flags, async (dataSource) => {
              const resolved = await new ModelAliasDirectory({ dataSource, version: () => 0 }).resolve({ name: flags.alias, datasetName: flags.dataset ?? null });
              return aliasReport({
                dataSource,
                alias: resolved,
                evaluate: async (modelId) => {
                  const { ranking } = await evaluateSavedModel({ dataSource, modelId });
                  return { ndcg10: ranking.perUser["ndcg@10"], recall20: ranking.perUser["recall@20"] };
                },
              });
            }),
          text: formatReport,
        });
      });
  },
};
