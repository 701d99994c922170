/**
 * `vcm train`, `vcm evaluate`, `vcm compare` and `vcm models`: thin wrappers over the training,
 * evaluation and saved-model services
 * that parse flags, open the database and print a table (or one JSON line with --json).
 */
import type { Command } from "commander";
import { loadAppConfig } from "../../src/config.ts";
import type { TrainedModel } from "../../src/db/entities/trained-model.entity.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import type { DataSource } from "typeorm";
import { ExportShardService } from "../../src/services/export-shard-jobs.ts";
import { compareModels, evaluateSavedModel, type ShardedEvaluation } from "../../src/services/model-evaluation.ts";
import { METRIC_NAMES, parseMode, parseVariant } from "../../src/services/model-names.ts";
import { listModels } from "../../src/services/saved-models.ts";
import { trainAndSave, WARM_START_RULES } from "../../src/services/training.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { withDatabase } from "../with-database.ts";
import { shardsHelp, shardsOption } from "../options.ts";
import { addConfigFlags, configFromFlags } from "./config-flags.ts";
import { VARIANTS } from "../../src/engine/types.ts";

/**
 * Runs an evaluation split into `shards` shards when given (this process's queue of shards takes
 * them beside every server's, and stops after), else in this process.
 */
async function withShardQueue<T>(o: { dataSource: DataSource; db?: string; shards?: number; io: CliIo }, work: (sharded?: ShardedEvaluation) => Promise<T>): Promise<T> {
  if (o.shards === undefined) return work(undefined);
  const config = loadAppConfig({ dbPath: o.db });
  const queue = new ExportShardService({ dataSource: o.dataSource, dbPath: config.dbPath, modelsDir: config.modelsDir, leaseSeconds: config.jobLeaseSeconds });
  try {
    return await work({ queue, shards: o.shards, onProgress: (p) => o.io.info(`evaluation: ${p.shardsDone} of ${p.shards} shards done`) });
  } finally {
    await queue.close();
  }
}

interface DbOptions {
  db?: string;
  json?: boolean;
}

/** The train / evaluate / compare / models subcommands. */
export const modelCommands: CommandModule = {
  register(program: Command, io: CliIo): void {
    const train = program
      .command("train")
      .description("train a model on an ingested dataset, save it, and evaluate it on the test split")
      .requiredOption("--dataset <name>", "dataset name (see `vcm datasets`)")
      .option("--variant <variant>", `one of ${VARIANTS.join(", ")} (required unless --from-model is given: then that model's)`)
      .option("--from-model <id>", `warm start: continue a saved model of this dataset (see \`vcm models\`) on the dataset as it is now. ${WARM_START_RULES}`);
    addConfigFlags(train);
    train
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON object on stdout")
      .action(async (opts: DbOptions & Record<string, string | boolean | undefined> & { dataset: string; variant?: string; fromModel?: string }) => {
        await io.run({
          json: Boolean(opts.json),
          body: async () => {
            const fromModel = opts.fromModel === undefined ? undefined : parseModelId(opts.fromModel);
            if (opts.variant === undefined && fromModel === undefined) {
              throw new UserError(ErrorCode.BAD_USER_INPUT, `Give --variant (one of ${VARIANTS.join(", ")}), or --from-model ID to continue a saved model.`);
            }
            const variant = opts.variant === undefined ? undefined : parseVariant(opts.variant);
            const config = configFromFlags(opts);
            return withDatabase(opts, async (dataSource) => {
              const app = loadAppConfig({ dbPath: opts.db });
              const { model, metrics } = await trainAndSave({
                dataSource,
                dataset: opts.dataset,
                variant,
                fromModel,
                config,
                modelsDir: app.modelsDir,
                onPhase: (phase, id) => io.info(`${phase}${id === undefined ? "" : ` (model ${id})`}…`),
                onEpoch: (r) =>
                  io.info(
                    `epoch ${r.epoch}: −Lx ${fmt(r.reconX, 3)}  −Ly ${fmt(r.reconY, 3)}  β ${fmt(r.beta, 4)}  ` +
                      `validation NDCG@100 ${fmt(r.valNdcg100, 4)}  ${r.seconds.toFixed(2)} s`,
                  ),
              });
              return {
                modelId: model.id,
                dataset: opts.dataset,
                variant: model.variant,
                fromModel: model.fromModelId,
                backend: model.backend,
                device: model.device,
                bestEpoch: model.bestEpoch,
                epochs: model.history.length,
                secondsPerEpoch: model.secondsPerEpoch,
                checkpoint: model.checkpointPath,
                metrics: metrics.vcm,
                ...(metrics["vcm-cd"] ? { metricsCd: metrics["vcm-cd"] } : {}),
              };
            });
          },
          text: (r) =>
            [
              `model ${r.modelId}: ${r.variant} on "${r.dataset}"${r.fromModel === null ? "" : `, continued from model ${r.fromModel}`}, backend ${r.backend} (${r.device ?? "device not recorded"})`,
              `best epoch ${r.bestEpoch} of ${r.epochs}, ${r.secondsPerEpoch === null ? "–" : r.secondsPerEpoch.toFixed(2)} s per epoch`,
              `checkpoint ${r.checkpoint}`,
              metricTable({ vcm: r.metrics, ...(r.metricsCd ? { "vcm-cd": r.metricsCd } : {}) }),
            ].join("\n"),
        });
      });

    program
      .command("evaluate")
      .description("re-evaluate a saved model on its dataset's test split")
      .requiredOption("--model <id>", "model id (see `vcm models`)")
      .option("--mode <mode>", "vcm (from clicks) or vcm-cd (from review words)", "vcm")
      .option("--shards <n>", shardsHelp("the model's evalBatchSize"))
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON object on stdout")
      .action(async (opts: DbOptions & { model: string; mode: string; shards?: string }) => {
        await io.run({
          json: Boolean(opts.json),
          body: async () => {
            const modelId = parseModelId(opts.model);
            const mode = parseMode(opts.mode);
            const shards = shardsOption(opts.shards);
            return withDatabase(opts, async (dataSource) => {
              const e = await withShardQueue({ dataSource, db: opts.db, shards, io }, (sharded) => evaluateSavedModel({ dataSource, modelId, mode, sharded }));
              return { modelId: e.modelId, dataset: e.datasetName, variant: e.variant, mode: e.mode, users: e.users, metrics: e.metrics };
            });
          },
          text: (r) => [`model ${r.modelId}: ${r.variant} on "${r.dataset}", mode ${r.mode}, ${r.users} test users`, metricTable({ [r.mode]: r.metrics })].join("\n"),
        });
      });

    program
      .command("compare")
      .description("compare two models of one dataset on a metric with a paired t-test over the same users")
      .option("--model <id>", "a model id; give it twice", collect, [])
      .option("--metric <name>", `one of ${METRIC_NAMES.join(", ")}`, "ndcg@10")
      .option("--mode <mode>", "vcm or vcm-cd; once for both models, or twice (first model, second model)", collect, [])
      .option("--shards <n>", shardsHelp("the model's evalBatchSize"))
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON object on stdout")
      .action(async (opts: DbOptions & { model: string[]; metric: string; mode: string[]; shards?: string }) => {
        await io.run({
          json: Boolean(opts.json),
          body: async () => {
            if (opts.model.length !== 2) {
              throw new UserError(ErrorCode.BAD_USER_INPUT, `Give exactly two models, as --model A --model B; got ${opts.model.length}.`);
            }
            if (opts.mode.length > 2) throw new UserError(ErrorCode.BAD_USER_INPUT, "Give --mode at most twice (first model, second model).");
            const [a, b] = opts.model.map(parseModelId);
            const modes = opts.mode.map(parseMode);
            const [modeA, modeB] = modes.length === 2 ? modes : [modes[0] ?? "vcm", modes[0] ?? "vcm"];
            const shards = shardsOption(opts.shards);
            return withDatabase(opts, async (dataSource) => {
              const c = await withShardQueue({ dataSource, db: opts.db, shards, io }, (sharded) => compareModels({ dataSource, modelA: a, modelB: b, metric: opts.metric, modeA, modeB, sharded }));
              return {
                metric: c.metric,
                dataset: c.datasetName,
                modelA: { ...c.modelA, mean: c.meanA },
                modelB: { ...c.modelB, mean: c.meanB },
                difference: c.difference,
                statistic: c.statistic,
                df: c.df,
                pValue: c.pValue,
                users: c.users,
              };
            });
          },
          text: (r) =>
            [
              `${r.metric} on "${r.dataset}" over ${r.users} users with test items`,
              `  model ${r.modelA.id} (${r.modelA.variant}, ${r.modelA.mode}): ${fmt(r.modelA.mean, 4)}`,
              `  model ${r.modelB.id} (${r.modelB.variant}, ${r.modelB.mode}): ${fmt(r.modelB.mean, 4)}`,
              `  difference ${fmt(r.difference, 4)}, paired t = ${fmt(r.statistic, 3)} (df ${r.df}), p = ${r.pValue.toPrecision(3)}`,
            ].join("\n"),
        });
      });

    program
      .command("models")
      .description("list trained models with their test metrics")
      .option("--dataset <name>", "only the models of this dataset")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON object on stdout")
      .action(async (opts: DbOptions & { dataset?: string }) => {
        await io.run({
          json: Boolean(opts.json),
          body: async () =>
            withDatabase(opts, async (dataSource) => {
              const rows = await listModels({ dataSource, datasetName: opts.dataset });
              return { models: rows.map(modelSummary) };
            }),
          text: (r) => modelTable(r.models),
        });
      });
  },
};

/** A model row as the CLI shows it. */
function modelSummary(m: TrainedModel) {
  return {
    id: m.id,
    dataset: m.dataset.name,
    variant: m.variant,
    fromModel: m.fromModelId,
    status: m.status,
    backend: m.backend,
    device: m.device,
    bestEpoch: m.bestEpoch,
    epochs: m.history.length,
    secondsPerEpoch: m.secondsPerEpoch,
    metrics: m.testMetrics?.vcm ?? null,
    metricsCd: m.testMetrics?.["vcm-cd"] ?? null,
    config: m.config,
    error: m.error,
    checkpoint: m.checkpointPath,
    createdAt: m.createdAt.toISOString(),
  };
}

function modelTable(models: ReadonlyArray<ReturnType<typeof modelSummary>>): string {
  if (models.length === 0) return "no trained models yet (train one with `vcm train --dataset NAME --variant vcm`)";
  const header = ["id", "dataset", "variant", "status", "backend", "best", "s/epoch", "ndcg@10", "recall@20", "cd ndcg@10"];
  const lines = models.map((m) => [
    String(m.id),
    m.dataset,
    m.variant,
    m.status,
    m.backend,
    `${m.bestEpoch}/${m.epochs}`,
    m.secondsPerEpoch === null ? "–" : m.secondsPerEpoch.toFixed(2),
    fmt(m.metrics?.["ndcg@10"], 4),
    fmt(m.metrics?.["recall@20"], 4),
    fmt(m.metricsCd?.["ndcg@10"], 4),
  ]);
  return table([header, ...lines]);
}

function metricTable(byMode: Readonly<Record<string, Readonly<Record<string, number>>>>): string {
  const modes = Object.keys(byMode);
  return table([["metric", ...modes], ...METRIC_NAMES.map((name) => [name, ...modes.map((mode) => fmt(byMode[mode][name], 4))])]);
}

function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()).join("\n");
}

function fmt(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

function parseModelId(raw: string): number {
  const id = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(id) || id <= 0) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `A model id is a positive integer (see \`vcm models\`), got "${raw}".`);
  }
  return id;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
