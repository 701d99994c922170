/**
 * `startExperiment` (GraphQL, admin): queues the experiment and runs it as `vcm experiment`, the real
 * bin in its own process (so training never blocks the API), in a folder named after the arguments
 * under the server's experiments folder; the same arguments started again resume the same folder and
 * row. Like training jobs (jobs.ts), a server runs one experiment at a time and the others wait
 * QUEUED; several servers on one database each claim a queued one with a conditional update, so none
 * runs twice. The child owns its row (lease, heartbeat: experiment.ts); it exits when its server's IPC
 * channel closes, and any server fails, once, a running experiment whose owner is gone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DataSource } from "typeorm";
import type { Experiment } from "../db/entities/experiment.entity.ts";
import { claimQueuedExperiment, endExperiment, failAbandonedExperiments, findExperiment, getExperiment, oldestQueuedExperiments, queueExperimentRow } from "../db/experiment-rows.ts";
import { newLeaseOwner } from "../db/job-leases.ts";
import { findDatasetRef } from "../db/load-dataset-matrices.ts";
import { isTransientDatabaseError } from "../db/busy.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { cancelExperiment, EXPERIMENT_ABANDONED_MESSAGE, EXPERIMENT_CANCELLED_MESSAGE, experimentKey, plannedRuns, resolveExperimentArgs, type ExperimentArgs } from "./experiment.ts";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "vcm.js");

/** What a server says of an experiment whose process it stopped or lost. */
export const EXPERIMENT_STOPPED_MESSAGE = "The experiment's process stopped before it finished; start it again with the same arguments to resume it.";

/** Milliseconds a child gets to stop on its own after a cancel before it is killed. */
const CANCEL_GRACE_MS = 10_000;

/** The experiment this server runs now. */
interface RunningExperiment {
  readonly id: number;
  readonly child: ChildProcess;
  cancelled: boolean;
  readonly exited: Promise<void>;
}

export class ExperimentJobService {
  readonly #dataSource: DataSource;
  readonly #env: NodeJS.ProcessEnv;
  readonly #dir: string;
  /** This server's name in the owner column of the experiments it claims (the child then takes them over). */
  readonly #owner = newLeaseOwner();
  readonly #leaseMs: number;
  #running: RunningExperiment | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closing = false;
  /** Serialises claims so that two pumps never start two children. */
  #queue: Promise<void> = Promise.resolve();

  constructor(o: { dataSource: DataSource; dbPath: string; modelsDir: string; experimentsDir: string; leaseSeconds?: number }) {
    this.#dataSource = o.dataSource;
    const leaseSeconds = o.leaseSeconds ?? 30;
    this.#env = { ...process.env, VCM_DB: o.dbPath, VCM_MODELS_DIR: o.modelsDir, VCM_JOB_LEASE_SECONDS: String(leaseSeconds) };
    this.#dir = o.experimentsDir;
    this.#leaseMs = leaseSeconds * 1000;
  }

  /**
   * Call once at server start: running experiments whose owner is gone are failed (once, with the
   * model they were training), queued ones start, and from then on a heartbeat does the same.
   */
  async recover(): Promise<void> {
    await this.#sweep();
    await this.#pump();
    if (this.#heartbeat === undefined && !this.#closing) {
      this.#heartbeat = setInterval(() => void this.#beat(), Math.max(250, Math.floor(this.#leaseMs / 3)));
      this.#heartbeat.unref();
    }
  }

  async #beat(): Promise<void> {
    try {
      await this.#sweep();
      await this.#pump();
    } catch (error) {
      if (!isTransientDatabaseError(error)) console.error("experiments: heartbeat failed; trying again at the next one", error);
    }
  }

  async #sweep(): Promise<void> {
    const failed = await failAbandonedExperiments(this.#dataSource, { error: EXPERIMENT_ABANDONED_MESSAGE, exceptOwner: this.#owner });
    for (const id of failed) console.error(`experiment ${id}: its process is gone; marked failed`);
  }

  /** Checks the arguments and queues the experiment (it starts at once when this server runs none); CONFLICT while it is queued or running. */
  async start(raw: Parameters<typeof resolveExperimentArgs>[0]): Promise<Experiment> {
    const args = resolveExperimentArgs(raw);
    const dataset = await findDatasetRef(this.#dataSource, args.dataset);
    const key = experimentKey(args);
    const outDir = path.resolve(this.#dir, `experiment-${key}`);
    // An experiment whose process died is failed first, so that it can be started again at once.
    await this.#sweep();
    const row = await queueExperimentRow(this.#dataSource, { datasetId: dataset.id, key, args: { ...args }, outDir, runsTotal: plannedRuns(args) });
    if (row === null) {
      const other = await findExperiment(this.#dataSource, { key, outDir });
      throw new UserError(ErrorCode.CONFLICT, `Experiment ${other?.id} with these arguments is ${other?.status}; wait for it, or poll experiment(id: ${other?.id}).`);
    }
    await this.#pump();
    return getExperiment(this.#dataSource, row.id);
  }

  /**
   * Cancels an experiment (experiment.ts cancelExperiment); one this server runs is stopped now, and
   * the call returns once its end is recorded.
   */
  async cancel(id: number): Promise<Experiment> {
    const row = await cancelExperiment(this.#dataSource, id);
    const running = this.#running;
    if (running !== undefined && running.id === id) {
      running.cancelled = true;
      if (running.child.connected) running.child.send({ type: "cancel" });
      const timer = setTimeout(() => running.child.kill("SIGKILL"), CANCEL_GRACE_MS);
      await running.exited;
      clearTimeout(timer);
      return getExperiment(this.#dataSource, id);
    }
    return row;
  }

  /** Stops the experiments this server runs (their rows say so; started again, they resume). */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.#queue;
    const running = this.#running;
    if (running === undefined) return;
    running.child.kill("SIGTERM");
    await running.exited;
  }

  #serial(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Starts the oldest queued experiment when this server runs none. */
  #pump(): Promise<void> {
    return this.#serial(async () => {
      if (this.#running !== undefined || this.#closing) return;
      for (const next of await oldestQueuedExperiments(this.#dataSource, 10)) {
        if (!(await claimQueuedExperiment(this.#dataSource, { id: next.id, owner: this.#owner, leaseMs: this.#leaseMs }))) continue;
        this.#launch(next);
        return;
      }
    });
  }

  #launch(row: Experiment): void {
    const args = row.args as unknown as ExperimentArgs;
    fs.mkdirSync(row.outDir, { recursive: true });
    const log = fs.openSync(path.join(row.outDir, "experiment.log"), "a");
    // The IPC channel carries a cancel, and its closing tells the child that this server is gone.
    const child = spawn(process.execPath, [BIN, "experiment", ...cliArguments(args), "--out", row.outDir, "--json", "--handed-by", this.#owner], {
      env: this.#env,
      stdio: ["ignore", log, log, "ipc"],
    });
    fs.closeSync(log);
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        const running = this.#running;
        this.#running = undefined;
        this.#settle({ id: row.id, pid: child.pid, code, signal, cancelled: running?.cancelled ?? false })
          .catch((error: unknown) => console.error(`experiment ${row.id}: could not record its end`, error))
          .then(() => this.#pump())
          .catch((error: unknown) => console.error("experiments: could not start the next one", error))
          .finally(resolve);
      });
    });
    this.#running = { id: row.id, child, cancelled: false, exited };
  }

  /** The child records its own end; one killed or crashed left its row running, which it is not. */
  async #settle(o: { id: number; pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; cancelled: boolean }): Promise<void> {
    if (o.code === 0) return;
    const row = await getExperiment(this.#dataSource, o.id);
    // Only while this server or its child holds the row: another process may have taken it over since.
    const ours = row.owner === this.#owner || (o.pid !== undefined && row.owner?.split(":")[1] === String(o.pid));
    if (row.status !== "running" || !ours) return;
    const error = o.cancelled ? EXPERIMENT_CANCELLED_MESSAGE : o.signal !== null ? `${EXPERIMENT_STOPPED_MESSAGE} (signal ${o.signal})` : EXPERIMENT_STOPPED_MESSAGE;
    await endExperiment(this.#dataSource, { id: o.id, owner: row.owner, status: o.cancelled ? "cancelled" : "failed", error });
  }
}

/** The command line that runs `args` (scripts/commands/experiment.ts reads it back). */
function cliArguments(args: ExperimentArgs): string[] {
  const out = ["--dataset", args.dataset, "--models", args.models.join(","), "--seeds", String(args.seeds)];
  if (args.epochs !== undefined) out.push("--epochs", String(args.epochs));
  if (args.grid !== undefined) out.push("--grid", `latentDim=${args.grid.latentDim.join(",")}`, "--grid", `beta=${args.grid.beta.join(",")}`);
  return out;
}
