/**
 * Experiments owned like training jobs (issue 23, item 12; issue 24, item 3), with real `vcm serve`
 * processes on one database file: the server's job queue holds the row's lease, as it does a training
 * job's, while its worker process (a module of src/services, not the CLI) runs it; kill -9 of that
 * server takes the worker with it within seconds; another server marks the experiment FAILED once,
 * with the model its run was training, and neither it nor a restarted server runs it again; that model
 * can be deleted. A cancel asked on another server reaches the worker, and that server's
 * experimentUpdated subscribers see the request and the end.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { EXPERIMENT_ABANDONED_MESSAGE } from "../../src/services/experiment.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { sharedDatabase, sleep, type ServerProcess } from "./serve-process.ts";

const LEASE_SECONDS = 2;
const shared = sharedDatabase({ prefix: "vcm-experiment-owner-", leaseSeconds: LEASE_SECONDS });
const { dbPath, env, serve } = shared;

/** Whether a process runs (a zombie left for its reaper counts as gone). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** The pid of the experiment worker forked by the process `parent`, if one runs. */
function workerOf(parent: number): number | undefined {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(fs.readFileSync(`/proc/${entry}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1]);
      if (ppid === parent && fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("experiment-worker.ts")) return Number(entry);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return undefined;
}

/** The experiment's row as the database file holds it now. */
function experimentRow(id: string): { status: string; owner: string | null; model_id: number | null; error: string | null; finished_at: string | null; runs_done: number; out_dir: string } {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare("SELECT status, owner, model_id, error, finished_at, runs_done, out_dir FROM experiments WHERE id = ?").get(Number(id)) as never;
  } finally {
    db.close();
  }
}

function modelCount(): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare("SELECT COUNT(*) FROM trained_models").pluck().get() as number;
  } finally {
    db.close();
  }
}

async function until<T>(what: string, probe: () => T | undefined | false, seconds: number): Promise<T> {
  for (let i = 0; i < seconds * 10; i += 1) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    await sleep(100);
  }
  throw new Error(`${what} did not happen within ${seconds} s`);
}

let a: ServerProcess;
let b: ServerProcess;

beforeAll(async () => {
  // The first start generates the demo dataset and trains its model; the second reuses them.
  a = await serve();
  b = await serve();
}, 240_000);

afterAll(() => shared.remove());

describe("an experiment whose server is killed", () => {
  it("loses its process within seconds, is failed once by the other server, runs nowhere again, and leaves a model that can be deleted", async () => {
    const started = await a.gql(`mutation ($input: StartExperimentInput!) { startExperiment(input: $input) { id status } }`, {
      input: { dataset: "demo", models: ["VCM"], seeds: 3, epochs: 5000 },
    });
    expect(started.errors).toBeUndefined();
    const id: string = started.data.startExperiment.id;
    // Server A holds the row (as it would a training job's) while its worker process trains a model.
    const running = await until(
      "the experiment's process training a model",
      () => {
        const row = experimentRow(id);
        return row.status === "running" && row.model_id !== null && row.owner !== null && Number(row.owner.split(":")[1]) === a.child.pid ? row : undefined;
      },
      60,
    );
    const experimentPid = workerOf(a.child.pid!)!;
    expect(isRunning(experimentPid)).toBe(true);
    // A worker module of the server's services, handed its arguments typed, not the CLI binary with flags.
    const commandLine = fs.readFileSync(`/proc/${experimentPid}/cmdline`, "utf8").split("\0").filter((part) => part !== "");
    const worker = commandLine.findIndex((part) => part.endsWith(path.join("src", "services", "experiment-worker.ts")));
    expect(worker).toBeGreaterThan(0);
    expect(commandLine.slice(worker + 1)).toHaveLength(1);
    expect(JSON.parse(commandLine[worker + 1])).toMatchObject({ args: { dataset: "demo", models: ["vcm"], seeds: 3, epochs: 5000 } });
    const modelsBefore = modelCount();

    a.child.kill("SIGKILL");
    const killedAt = Date.now();
    await until("the experiment's process to exit", () => !isRunning(experimentPid), 5);
    console.log(`experiment process gone ${Date.now() - killedAt} ms after kill -9 of its server`);

    // The other server fails it at its next heartbeat (the owner's process is gone), with its model.
    const failed = await until("the other server to fail the experiment", () => {
      const row = experimentRow(id);
      return row.status === "failed" ? row : undefined;
    }, 10);
    expect(failed.error).toBe(EXPERIMENT_ABANDONED_MESSAGE);
    const model = (await b.gql(`query ($id: ID!) { model(id: $id) { status error } }`, { id: running.model_id })).data.model;
    expect(model).toEqual({ status: "FAILED", error: EXPERIMENT_ABANDONED_MESSAGE });

    // A restarted server and more heartbeats: nothing changes, nothing runs it again.
    const c = await serve();
    await sleep(3 * LEASE_SECONDS * 1000);
    expect(experimentRow(id)).toEqual(failed);
    expect(modelCount()).toBe(modelsBefore);
    const seen = (await c.gql(`query ($id: ID!) { experiment(id: $id) { status error } }`, { id })).data.experiment;
    expect(seen).toEqual({ status: "FAILED", error: EXPERIMENT_ABANDONED_MESSAGE });

    const deleted = await c.gql(`mutation ($id: ID!) { deleteModel(id: $id) }`, { id: running.model_id });
    expect(deleted.errors).toBeUndefined();
    c.child.kill("SIGTERM");
  }, 180_000);

  it("is refused to a second process, cancelled over the API of another server, and `vcm cancel-experiment` refuses one that has ended", async () => {
    const started = await b.gql(`mutation ($input: StartExperimentInput!) { startExperiment(input: $input) { id status } }`, {
      input: { dataset: "demo", models: ["VCM"], seeds: 2, epochs: 5000 },
    });
    expect(started.errors).toBeUndefined();
    const id: string = started.data.startExperiment.id;
    const running = await until("a model in training", () => {
      const row = experimentRow(id);
      return row.status === "running" && row.model_id !== null && row.owner !== null && Number(row.owner.split(":")[1]) === b.child.pid ? row : undefined;
    }, 60);
    const experimentPid = workerOf(b.child.pid!)!;
    expect(isRunning(experimentPid)).toBe(true);
    // The same experiment from the command line, on the same folder, while it runs: refused, nothing written.
    const rival = runVcm(["experiment", "--dataset", "demo", "--models", "vcm", "--seeds", "2", "--epochs", "5000", "--out", running.out_dir], env);
    expect(rival.code).not.toBe(0);
    expect(rival.stderr).toContain(`Experiment ${id} with these arguments is running in another process; wait for it, or cancel it with \`vcm cancel-experiment ${id}\`.`);
    expect(experimentRow(id).owner).toBe(running.owner);
    // Asked on a server that does not run it: B's queue sees the request at its next heartbeat and stops the worker.
    const d = await serve();
    // D's subscriber sees the request, then B's end of it (polled from the database file).
    const client = createClient({ url: d.url.replace(/^http/, "ws"), webSocketImpl: WebSocket, retryAttempts: 0 });
    const seen: Array<{ status: string; cancelRequested: boolean }> = [];
    const streamEnded = new Promise<unknown>((resolve) => {
      client.subscribe<{ experimentUpdated: { status: string; cancelRequested: boolean } }>(
        { query: `subscription ($id: ID!) { experimentUpdated(id: $id) { status cancelRequested } }`, variables: { id } },
        { next: (message) => seen.push(message.data!.experimentUpdated), error: resolve, complete: () => resolve("complete") },
      );
    });
    await until("the subscriber's first message", () => seen.length > 0, 10);
    expect(seen[0]).toEqual({ status: "RUNNING", cancelRequested: false });
    const asked = await d.gql(`mutation ($id: ID!) { cancelExperiment(id: $id) { status cancelRequested } }`, { id });
    expect(asked.data.cancelExperiment).toEqual({ status: "RUNNING", cancelRequested: true });
    const cancelled = await until("the cancel", () => {
      const row = experimentRow(id);
      return row.status === "cancelled" ? row : undefined;
    }, 20);
    expect(cancelled.error).toBe("The experiment was cancelled; start it again with the same arguments to resume it.");
    expect(await streamEnded).toBe("complete");
    await client.dispose();
    expect(seen).toContainEqual({ status: "RUNNING", cancelRequested: true });
    expect(seen.at(-1)).toMatchObject({ status: "CANCELLED" });
    await until("the experiment's process to exit", () => !isRunning(experimentPid), 10);
    const deleted = await d.gql(`mutation ($id: ID!) { deleteModel(id: $id) }`, { id: running.model_id });
    expect(deleted.errors).toBeUndefined();
    d.child.kill("SIGTERM");

    const ended = runVcm(["cancel-experiment", id], env);
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toContain(`Experiment ${id} has already ended (cancelled); there is nothing to cancel.`);
  }, 180_000);
});
