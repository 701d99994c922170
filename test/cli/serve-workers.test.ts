/**
 * `vcm serve --workers N` with the real bin on a fresh SQLite file: one summary for the processes, the
 * connections shared by the workers, a killed worker replaced while the port keeps answering, SIGTERM
 * stopping every process with status 0, and a start that cannot succeed reported once with the
 * worker's own sentence.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_SERVE_WORKERS } from "../../src/cluster/supervisor.ts";
import { serveProcess, serverEnv, type ServerProcess } from "../graphql/serve-process.ts";
import { runVcm, runVcmAsync } from "./run-vcm.ts";

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-serve-workers-"));
const env = serverEnv({ db: path.join(dir, "vcm.sqlite"), dir, name: "workers", extra: { VCM_SERVE_WORKERS: "" } });

/** CPU time (user + system) of a process so far, in clock ticks. */
function cpuTicks(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** The `vcm` processes whose parent is `pid` (tsx's esbuild service is a child of the primary too). */
function childrenOf(pid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((candidate) => {
      try {
        const parent = Number(fs.readFileSync(`/proc/${candidate}/stat`, "utf8").split(") ")[1].split(" ")[1]);
        return parent === pid && fs.readFileSync(`/proc/${candidate}/cmdline`, "utf8").includes("vcm.js");
      } catch {
        return false;
      }
    });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One GraphQL request on a connection of its own (so the primary hands each to the next worker). */
function postOnNewConnection(url: string, query: string): Promise<{ data?: any; errors?: unknown }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", agent: false, headers: { "content-type": "application/json" } }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(JSON.parse(body) as { data?: any }));
    });
    request.on("error", reject);
    request.end(JSON.stringify({ query }));
  });
}

async function until(condition: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(process.platform !== "linux")("vcm serve --workers", () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await serveProcess(env, children, ["--workers", "2", "--port", "0"]);
  }, 240_000);

  afterAll(() => {
    for (const child of children) child.kill("SIGKILL");
    for (const pid of server?.summary.workerPids ?? []) if (alive(pid)) process.kill(pid, "SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("prints one summary naming both workers, which are the serve process's children, and answers on its port", async () => {
    const { summary, child } = server;
    expect(summary.workers).toBe(2);
    expect(new Set(summary.workerPids).size).toBe(2);
    expect(childrenOf(child.pid!).sort()).toEqual([...summary.workerPids].sort());
    expect(summary.generatedDemo).toBe(true);
    expect(server.stdout().trim().split("\n")).toHaveLength(1);
    expect((await server.gql("{ datasets { name } }")).data).toEqual({ datasets: [{ name: "demo" }] });
  });

  it("hands the connections to both workers", async () => {
    const workers: number[] = server.summary.workerPids;
    const before = workers.map(cpuTicks);
    const users = (await server.gql('{ dataset(name: "demo") { users(first: 16) { edges { node { id } } } } }')).data.dataset.users.edges.map((e: { node: { id: string } }) => e.node.id);
    const modelId = server.summary.trainedModelId;
    for (const id of users) {
      const answer = await postOnNewConnection(server.url, `{ user(id: "${id}") { recommendations(modelId: "${modelId}", k: 10) { rank explanation(k: 5) { words { word } } } } }`);
      expect(answer.errors).toBeUndefined();
      expect(answer.data.user.recommendations).toHaveLength(10);
    }
    // Each worker loaded the model and scored its share of the users: CPU time on both.
    const after = workers.map(cpuTicks);
    expect(after[0] - before[0]).toBeGreaterThan(0);
    expect(after[1] - before[1]).toBeGreaterThan(0);
  });

  it("replaces a worker killed with SIGKILL, and the port keeps answering", async () => {
    const [victim, survivor] = server.summary.workerPids as number[];
    process.kill(victim, "SIGKILL");
    await until(() => childrenOf(server.child.pid!).length === 2 && !childrenOf(server.child.pid!).includes(victim), "a new worker");
    const replacement = childrenOf(server.child.pid!).find((pid) => pid !== survivor)!;
    server.summary.workerPids = [survivor, replacement];
    expect(server.stderr()).toContain(`worker ${victim} stopped (SIGKILL); starting another.`);
    await until(() => server.stderr().split("engine backend").length - 1 >= 3, "the new worker to start its engine");
    for (let i = 0; i < 4; i += 1) expect((await postOnNewConnection(server.url, "{ datasets { name } }")).data).toEqual({ datasets: [{ name: "demo" }] });
  }, 120_000);

  it("stops the serve process and every worker on SIGTERM, with status 0", async () => {
    const workers: number[] = server.summary.workerPids;
    const exited = new Promise<number | null>((resolve) => server.child.once("exit", (code) => resolve(code)));
    server.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await until(() => workers.every((pid) => !alive(pid)), "the workers to exit", 10_000);
  }, 60_000);

  it("refuses a bad --workers or VCM_SERVE_WORKERS with a sentence", () => {
    for (const [args, extra, given] of [
      [["--workers", "0"], {}, "0"],
      [["--workers", String(MAX_SERVE_WORKERS + 1)], {}, String(MAX_SERVE_WORKERS + 1)],
      [[], { VCM_SERVE_WORKERS: "two" }, "two"],
    ] as const) {
      const run = runVcm(["serve", "--json", "--port", "0", ...args], { ...env, ...extra });
      expect(run.code).toBe(1);
      expect(run.last).toEqual({ error: { code: "BAD_USER_INPUT", message: `--workers (or VCM_SERVE_WORKERS) must be a whole number of processes from 1 to ${MAX_SERVE_WORKERS}, got "${given}".` } });
    }
  });

  it("reports a worker's failed start once, with its sentence, and exits 1", async () => {
    const run = await runVcmAsync(["serve", "--json", "--port", "0", "--workers", "2", "--retrieval", "bogus"], { env, started: children });
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split("\n")).toHaveLength(1);
    expect(run.last).toEqual({ error: { code: "BAD_USER_INPUT", message: expect.stringContaining('--retrieval must be one of') } });
    expect(run.stderr).not.toContain("internal error");
  }, 120_000);
});
