/**
 * `startExperiment` (GraphQL, admin): runs `vcm experiment` for the server as its own process (the
 * real bin, so training never blocks the API), in a folder named after the arguments under the
 * server's experiments folder. Its row exists before the mutation returns and shows its progress; the
 * same arguments started again resume the same folder and row, as on the command line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DataSource } from "typeorm";
import type { Experiment } from "../db/entities/experiment.entity.ts";
import { failRunningExperiment, findExperiment, getExperiment, startExperimentRow } from "../db/experiment-rows.ts";
import { findDatasetRef } from "../db/load-dataset-matrices.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { experimentKey, plannedRuns, resolveExperimentArgs, type ExperimentArgs } from "./experiment.ts";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "vcm.js");

/** What a server says of an experiment whose process it stopped or lost. */
export const EXPERIMENT_STOPPED_MESSAGE = "The experiment's process stopped before it finished; start it again with the same arguments to resume it.";

export class ExperimentJobService {
  readonly #dataSource: DataSource;
  readonly #env: NodeJS.ProcessEnv;
  readonly #dir: string;
  readonly #running = new Map<number, ChildProcess>();

  constructor(o: { dataSource: DataSource; dbPath: string; modelsDir: string; experimentsDir: string }) {
    this.#dataSource = o.dataSource;
    this.#env = { ...process.env, VCM_DB: o.dbPath, VCM_MODELS_DIR: o.modelsDir };
    this.#dir = o.experimentsDir;
  }

  /** Checks the arguments, records the experiment and starts its process; CONFLICT while the same one runs here. */
  async start(raw: Parameters<typeof resolveExperimentArgs>[0]): Promise<Experiment> {
    const args = resolveExperimentArgs(raw);
    const dataset = await findDatasetRef(this.#dataSource, args.dataset);
    const key = experimentKey(args);
    const outDir = path.resolve(this.#dir, `experiment-${key}`);
    const previous = await findExperiment(this.#dataSource, { key, outDir });
    const child = previous === null ? undefined : this.#running.get(previous.id);
    if (child !== undefined) {
      if (previous!.status === "running") {
        throw new UserError(ErrorCode.CONFLICT, `Experiment ${previous!.id} with these arguments is running; wait for it, or poll experiment(id: ${previous!.id}).`);
      }
      // It has recorded its end and is exiting: let it go before its folder is used again.
      await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
    }
    fs.mkdirSync(outDir, { recursive: true });
    const row = await startExperimentRow(this.#dataSource, { datasetId: dataset.id, key, args: { ...args }, outDir, runsTotal: plannedRuns(args) });
    const log = fs.openSync(path.join(outDir, "experiment.log"), "a");
    const worker = spawn(process.execPath, [BIN, "experiment", ...cliArguments(args), "--out", outDir, "--json"], { env: this.#env, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    this.#running.set(row.id, worker);
    worker.once("exit", (code, signal) => {
      this.#running.delete(row.id);
      if (code === 0) return;
      // The child records its own failures; a kill or a crash leaves the row "running", which it is not.
      const why = signal !== null ? `${EXPERIMENT_STOPPED_MESSAGE} (signal ${signal})` : EXPERIMENT_STOPPED_MESSAGE;
      void failRunningExperiment(this.#dataSource, row.id, why).catch(() => undefined);
    });
    return getExperiment(this.#dataSource, row.id);
  }

  /** Stops the experiments this server runs (their rows say so; started again, they resume). */
  async close(): Promise<void> {
    const exits = [...this.#running.values()].map((child) => new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }));
    await Promise.all(exits);
  }
}

/** The command line that runs `args` (scripts/commands/experiment.ts reads it back). */
function cliArguments(args: ExperimentArgs): string[] {
  const out = ["--dataset", args.dataset, "--models", args.models.join(","), "--seeds", String(args.seeds)];
  if (args.epochs !== undefined) out.push("--epochs", String(args.epochs));
  if (args.grid !== undefined) out.push("--grid", `latentDim=${args.grid.latentDim.join(",")}`, "--grid", `beta=${args.grid.beta.join(",")}`);
  return out;
}
