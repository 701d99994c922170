/**
 * `vcm serve` as a real process (the real bin) for multi-process tests: start it on a database,
 * talk GraphQL to it over HTTP, poll and start its training jobs.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { serveChild, type ServeChild } from "../../scripts/serve-child.ts";
import type { TestDatabase } from "../db/databases.ts";

/** A started `vcm serve` (scripts/serve-child.ts) and a GraphQL client for it. */
export interface ServerProcess extends ServeChild {
  gql(query: string, variables?: Record<string, unknown>): Promise<{ data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> }>;
}

/**
 * The environment of one `vcm serve` (or `vcm`) process of a multi-process test: the database, a models
 * folder of its own under `dir`, and no admin token, port or log level inherited from the caller, plus `extra`.
 */
export function serverEnv(o: { db: string; dir: string; name: string; extra?: Record<string, string> }): NodeJS.ProcessEnv {
  return { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_LOG_LEVEL: "", VCM_DB: o.db, VCM_MODELS_DIR: path.join(o.dir, `${o.name}-models`), ...o.extra };
}

/**
 * Starts `vcm serve --json` with `env` (and `args`, e.g. --db) and resolves once it listens; `started`
 * collects it for cleanup.
 */
export async function serveProcess(env: NodeJS.ProcessEnv, started: ChildProcess[], args: ReadonlyArray<string> = []): Promise<ServerProcess> {
  const server = await serveChild(env, { args, onSpawn: (child) => started.push(child) });
  const { child, url } = server;
  return {
    ...server,
    gql: async (query, variables = {}) => {
      const send = () => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
      // A keep-alive socket the server closed while this process was blocked (spawnSync) fails once
      // with "other side closed"; a server that is gone fails the second try too.
      const response = await send()
        .catch((error: { cause?: { code?: string } }) => {
          if (error.cause?.code !== "UND_ERR_SOCKET") throw error;
          return send();
        })
        .catch((error: unknown) => {
          // A server that is gone says why: its exit and what it wrote on stderr.
          if (child.exitCode === null && child.signalCode === null) throw error;
          throw new Error(`vcm serve exited (${child.exitCode ?? child.signalCode}): ${server.stderr()}`, { cause: error });
        });
      return (await response.json()) as any;
    },
  };
}

/** A folder with one SQLite file that several `vcm serve` processes (and the CLI) share. */
export interface SharedDatabase {
  readonly dir: string;
  readonly dbPath: string;
  readonly modelsDir: string;
  /** The environment every process on it runs with: the file, the folders, the lease, no admin token. */
  readonly env: NodeJS.ProcessEnv;
  /** Starts one more server on it (the first start generates the demo dataset and trains its model; later ones reuse them). */
  serve(): Promise<ServerProcess>;
  /** Kills every server still running and removes the folder. */
  remove(): void;
}

/** A fresh folder and database file for several servers, whose jobs' leases last `leaseSeconds`. */
export function sharedDatabase(o: { prefix: string; leaseSeconds: number }): SharedDatabase {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), o.prefix));
  const dbPath = path.join(dir, "vcm.sqlite");
  const modelsDir = path.join(dir, "models");
  const env = {
    ...process.env,
    VCM_ADMIN_TOKEN: "",
    PORT: "",
    VCM_JOB_LEASE_SECONDS: String(o.leaseSeconds),
    VCM_DB: dbPath,
    VCM_MODELS_DIR: modelsDir,
    VCM_EXPERIMENTS_DIR: path.join(dir, "experiments"),
  };
  const children: ChildProcess[] = [];
  return {
    dir,
    dbPath,
    modelsDir,
    env,
    serve: () => serveProcess(env, children),
    remove() {
      for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls a job on `server` until `done` holds (or 60 s pass), returning the last answer. */
export async function pollJob(server: ServerProcess, id: string, done: (job: any) => boolean): Promise<any> {
  let job: any;
  for (let i = 0; i < 600; i += 1) {
    job = (await server.gql(`query ($id: ID!) { trainingJob(id: $id) { id status error cancelRequested progress { epoch } model { id status } } }`, { id })).data.trainingJob;
    if (done(job)) return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return job;
}

/** Starts a VCM training job of `epochs` epochs on the demo dataset with a tiny configuration. */
export async function startJob(server: ServerProcess, epochs: number): Promise<string> {
  const started = await server.gql(`mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id status } }`, {
    input: { dataset: "demo", variant: "VCM", hyperParameters: { ...TINY_CONFIG, epochs } },
  });
  expect(started.errors).toBeUndefined();
  return started.data.startTraining.id;
}

export const TINY_CONFIG = { latentDim: 4, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The end of a multi-server test (afterAll): kills the servers still running, gives their database
 * connections a moment to close, drops the test's database and removes its folder.
 */
export async function removeServersAndDatabase(o: { children: ReadonlyArray<ChildProcess>; database: TestDatabase | undefined; dir: string }): Promise<void> {
  for (const child of o.children) if (child.exitCode === null) child.kill("SIGKILL");
  await sleep(200);
  await o.database?.drop();
  fs.rmSync(o.dir, { recursive: true, force: true });
}
