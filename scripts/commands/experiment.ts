import type { Command } from "commander";
import { loadAppConfig } from "../../src/config.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { cancelExperiment, experimentProgressLine, MAX_GRID_VALUES, resolveExperimentArgs, runExperiment } from "../../src/services/experiment.ts";
import { EXPERIMENT_SET_FIELDS } from "../../src/services/experiment-settings.ts";
import { MAX_TUNE_TRIALS } from "../../src/services/experiment-tune.ts";
import { addConfigFlags, configFromFlags, flagField } from "./config-flags.ts";
import type { CliIo, CommandModule } from "./command-module.ts";
import { numberOption } from "../options.ts";
import { withDatabase } from "../with-database.ts";
import { VARIANTS } from "../../src/engine/types.ts";

interface ExperimentFlags extends Record<string, unknown> {
  dataset: string;
  models: string;
  seeds: string;
  grid: string[];
  out: string;
  db?: string;
  json?: boolean;
}

/** `vcm experiment`: every model × every seed on one dataset, resumable, with the paper's tables in report.md. */
export const experimentCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    const command = program
      .command("experiment")
      .description("train every listed model with every seed on a dataset (resumable) and write the paper's comparison tables to DIR/report.md and CSVs")
      .requiredOption("--dataset <name>", "the ingested dataset (its split is kept)")
      .option("--models <list>", `comma-separated variants (${VARIANTS.join(", ")})`, "vcm,vcm-se,vcm-od,vcm-nv,popularity")
      .option("--seeds <n>", "training seeds per model (1 … n)", "10")
      .option(
        "--grid <spec>",
        `NAME=v1,v2,… over a numeric setting (its field or flag name; at most ${MAX_GRID_VALUES} values): each listed model that reads it also trains once per value and seed; repeat the flag for a product (Figure 3: --grid latentDim=50,100 --grid beta=0.2,0.4)`,
        (value: string, all: string[]) => [...all, value],
        [] as string[],
      )
      .option(
        "--tune <n>",
        `tune each model first: n trials (1 to ${MAX_TUNE_TRIALS}) of a seeded random search over its learning rate and main regularisation weights, scored by validation NDCG@100 with early stopping; its seeds then train at the best trial's values (default: untuned)`,
      )
      .requiredOption("--out <dir>", "folder of the experiment: started again with the same arguments, it resumes")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print one JSON summary line on stdout");
    // The settings of `vcm train`, each applied to the listed models that read it.
    addConfigFlags(command, { except: EXPERIMENT_SET_FIELDS });
    command.action(async (flags: ExperimentFlags) => {
      const config = loadAppConfig({ dbPath: flags.db });
      await io.run({
        json: flags.json === true,
        body: () =>
          withDatabase(flags, (dataSource) =>
            runExperiment({
              dataSource,
              modelsDir: config.modelsDir,
              leaseMs: config.jobLeaseSeconds * 1000,
              args: resolveExperimentArgs({
                dataset: flags.dataset,
                models: flags.models.split(","),
                seeds: numberOption(flags.seeds, { flag: "--seeds" }) ?? 10,
                config: configFromFlags(flags),
                grid: parseGrid(flags.grid),
                tune: numberOption(flags.tune as string | undefined, { flag: "--tune" }),
              }),
              outDir: flags.out,
              onProgress: (e) => io.info(experimentProgressLine(e)),
            }),
          ),
        text: (s) => `Experiment: ${s.runs} runs (${s.trained} trained now, ${s.runs - s.trained} resumed); report: ${s.report}`,
      });
    });
    program
      .command("cancel-experiment")
      .description("cancel an experiment: a queued one at once, a running one within a third of its lease (VCM_JOB_LEASE_SECONDS), wherever it runs")
      .argument("<id>", "the experiment's id (GraphQL experiments { id status })")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--json", "print the experiment's row as JSON on stdout")
      .action(async (id: string, flags: { db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () => withDatabase(flags, (dataSource) => cancelExperiment(dataSource, numberOption(id, { flag: "<id>" }) ?? 0)),
          text: (e) => `Experiment ${e.id}: ${e.status === "cancelled" ? "cancelled" : `${e.status}, asked to cancel; it stops at its next heartbeat`}.`,
        });
      });
  },
};

/** `--grid latentDim=50,100 --grid lr=0.001,0.01` → { latentDim: [50, 100], learningRate: [0.001, 0.01] } (the service checks names and bounds). */
function parseGrid(specs: ReadonlyArray<string>): Record<string, number[]> | undefined {
  if (specs.length === 0) return undefined;
  const grid: Record<string, number[]> = {};
  for (const spec of specs) {
    const match = /^([A-Za-z][\w-]*)=(.+)$/.exec(spec.trim());
    const values = match?.[2].split(",").map((v) => (v.trim() === "" ? Number.NaN : Number(v.trim())));
    if (!match || !values || values.some((v) => !Number.isFinite(v))) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `--grid must look like NAME=v1,v2,… with numbers, as latentDim=50,100,150 or lr=0.001,0.01, got "${spec}".`);
    }
    const name = flagField(match[1])?.key ?? match[1];
    if (grid[name] !== undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, `--grid names ${name} twice; list all its values in one --grid ${name}=….`);
    grid[name] = values;
  }
  return grid;
}
